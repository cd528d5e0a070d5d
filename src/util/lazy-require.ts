// A CommonJS module that few commands use, loaded by the first call that needs it, synchronously:
// every other command (and the controller's start) goes without its load time.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}
