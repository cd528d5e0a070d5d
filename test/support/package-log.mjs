// node --import this: prints "package NAME" on stderr the first time a module of a package in
// node_modules is resolved, to see which packages a command loads. The command's bundle (dist/cli)
// holds some packages itself: a file of it that is loaded names those it holds, in the comments
// esbuild leaves before each of their modules.
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const seen = new Set();
const say = (name) => {
  if (seen.has(name)) return;
  seen.add(name);
  process.stderr.write('package ' + name + '\\n');
};
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  const name = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(resolved.url)?.[1];
  if (name) say(name);
  else if (/\\/dist\\/cli\\/[^/]+\\.js$/.test(resolved.url)) {
    for (const m of readFileSync(fileURLToPath(resolved.url), 'utf8').matchAll(/^\\/\\/ node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//gm)) say(m[1]);
  }
  return resolved;
}`),
);
