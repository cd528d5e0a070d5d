// The Node.js that runs mdmops in the tests is one package.json supports; in scripts/test-node24.sh,
// it is the one the image ships.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mdmops, NODE, ROOT } from './support/cli.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };

/** Whether vX.Y.Z meets a range of the form ^A.B.C || ^D.E.F, the only form engines uses. */
function supported(version: string, range: string): boolean {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number);
  return range.split('||').some((part) => {
    const m = /^\s*\^(\d+)\.(\d+)\.\d+\s*$/.exec(part);
    if (!m) throw new Error(`engines.node: unexpected form "${part}"`);
    return major === Number(m[1]) && minor! >= Number(m[2]);
  });
}

describe('the Node.js that runs mdmops', () => {
  const version = spawnSync(NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();

  it('is one package.json supports, and mdmops runs on it', () => {
    expect(supported(version, pkg.engines.node), `${version} against ${pkg.engines.node}`).toBe(true);
    const r = mdmops(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it("is the machine's, or in the Node 24 run the major release the image's Dockerfile ships", () => {
    const image = /^FROM node:(\d+)-/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
    if (process.env.MDMOPS_TEST_NODE) expect(version.split('.')[0]).toBe(`v${image}`);
    else expect(version).toBe(process.version);
  });
});
