// A CommonJS package that few commands use (node-forge, fast-xml-parser), loaded by the first call
// that needs it, synchronously: every other command, and the controller's start, goes without it.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyRequire<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}
