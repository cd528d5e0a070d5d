// node --import this: prints "package NAME" on stderr the first time a module of a package in
// node_modules is resolved, to see which packages a command loads.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
const seen = new Set();
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const name = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(resolved.url)?.[1];
  if (name && !seen.has(name)) {
    seen.add(name);
    process.stderr.write('package ' + name + '\\n');
  }
  return resolved;
}`),
);
