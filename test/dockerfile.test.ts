// The Dockerfile's shape (no container engine here to build it): multi-stage on a Node LTS image,
// a non-root runtime user, `mdmops controller` as entrypoint, sources that exist, and a build
// context that leaves out local state (the .mdmops store and its master key) and dependencies.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';

/** Instructions as [KEYWORD, arguments], continuation lines joined, comments dropped. */
function instructions(text: string): [string, string][] {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((l) => { const [k, ...rest] = l.split(/\s+/); return [k!.toUpperCase(), rest.join(' ')]; });
}

const steps = instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const lastFrom = steps.map(([k]) => k).lastIndexOf('FROM');
const runtime = steps.slice(lastFrom);
const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('builds in one stage and runs from another, both on a Node LTS image', () => {
    const froms = steps.filter(([k]) => k === 'FROM').map(([, a]) => a);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) {
      const major = Number(/^node:(\d+)-/.exec(from)?.[1]);
      expect(major >= 22 && major % 2 === 0, from).toBe(true);
    }
    // Dev dependencies stay in the build stage.
    expect(steps.some(([k, a]) => k === 'RUN' && a.includes('npm prune --omit=dev'))).toBe(true);
  });

  it('runs `mdmops controller` as a numeric non-root user', () => {
    const user = runtime.filter(([k]) => k === 'USER').pop()?.[1];
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    const entrypoint = runtime.find(([k]) => k === 'ENTRYPOINT')?.[1];
    expect(JSON.parse(entrypoint!)).toEqual(['node', '/app/bin/mdmops.js', 'controller']);
    expect(runtime.some(([k, a]) => k === 'WORKDIR' && a === '/app')).toBe(true);
    expect(readFileSync(join(ROOT, 'bin/mdmops.js'), 'utf8')).toContain("'../dist/src/cli/main.js'");
    expect(runtime.some(([k, a]) => k === 'COPY' && /--from=\S+ \/app\/dist \.\/dist/.test(a))).toBe(true);
  });

  it('copies sources that exist and that .dockerignore does not leave out', () => {
    const sources = steps.filter(([k, a]) => k === 'COPY' && !a.startsWith('--from')).flatMap(([, a]) => a.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), src).toBe(true);
      expect(ignored, src).not.toContain(src);
    }
    for (const local of ['.git', 'node_modules', 'dist', '.mdmops']) expect(ignored).toContain(local);
  });
});
