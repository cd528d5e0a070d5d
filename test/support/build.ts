// CLI tests run the built command, as users do: build it first when the sources are newer.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export default function setup() {
  const built = 'dist/cli/main.js'; // the bundle, made last
  if (!existsSync(built) || statSync(built).mtimeMs < newest('src')) {
    execFileSync('npm', ['run', '-s', 'build'], { stdio: 'inherit' });
  }
}
