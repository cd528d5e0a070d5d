// The command's bundle (dist/cli), made from what tsc compiled (dist/src): its modules and those of
// zod, yaml and commander in a few files. Node 20 loads each ES module file for about half a
// millisecond, and a command loads some 400 of them (zod alone loads 82, its 65 translations
// included): bundled, `mdmops` starts some 80 ms sooner. Every other package stays in node_modules,
// loaded as it expects (native bindings, worker files, lazy requires).
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

const BUNDLED = ['zod', 'yaml', 'commander'];
const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const external = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((name) => !BUNDLED.includes(name));

rmSync('dist/cli', { recursive: true, force: true });
await build({
  entryPoints: ['dist/src/cli/main.js'],
  outdir: 'dist/cli',
  bundle: true,
  // Commands load their own modules when run (cli/main.ts): each stays a chunk of its own.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  // yaml and commander are CommonJS, and require Node's modules.
  banner: { js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);" },
  // Mapped back to the TypeScript through tsc's maps (bin/mdmops.js uses them under MDMOPS_DEBUG).
  sourcemap: true,
  logLevel: 'warning',
});
