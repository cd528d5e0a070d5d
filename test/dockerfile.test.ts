// The Dockerfile's shape (no container engine here to build it): multi-stage on a Node LTS image,
// a non-root runtime user, `mdmops controller` as entrypoint, sources that exist, and a build
// context that leaves out local state (the .mdmops store and its master key) and dependencies.
// Then its runtime stage replayed in a folder: production dependencies only, run as that user.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
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
    expect(readFileSync(join(ROOT, 'bin/mdmops.js'), 'utf8')).toContain("'../dist/cli/main.js'");
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

  it('runs mdmops controller from the runtime stage\'s files, with production dependencies only, as its user', () => {
    const app = mkdtempSync(join(tmpdir(), 'mdmops-image-'));
    try {
      for (const f of ['package.json', 'package-lock.json', 'bin', 'schemas']) cpSync(join(ROOT, f), join(app, f), { recursive: true });
      // The build stage's `npm prune --omit=dev`: what the image keeps of node_modules.
      const ci = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8', timeout: 300_000 });
      expect(ci.status, ci.stderr).toBe(0);
      expect(existsSync(join(app, 'node_modules/typescript'))).toBe(false);
      // Its `npm rebuild better-sqlite3` compiles the binding this machine's install compiled already.
      cpSync(join(ROOT, 'node_modules/better-sqlite3/build'), join(app, 'node_modules/better-sqlite3/build'), { recursive: true });
      cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true, filter: (src) => !/[/\\]dist[/\\](bench|test)([/\\]|$)/.test(src) });
      chmodSync(app, 0o755);
      const [uid, gid] = runtime.filter(([k]) => k === 'USER').pop()![1].split(':').map(Number);
      // As the image's user when this runs as root (as CI does), else as whoever runs it.
      const run = (args: string[]) => {
        const command = process.getuid?.() === 0 ? ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', process.execPath] : [process.execPath];
        return spawnSync(command[0]!, [...command.slice(1), join(app, 'bin/mdmops.js'), ...args], { cwd: tmpdir(), encoding: 'utf8', env: { PATH: process.env.PATH, NODE_ENV: 'production', HOME: tmpdir() } });
      };
      const help = run(['controller', '--help']);
      expect(help.status, help.stderr).toBe(0);
      expect(help.stdout).toContain('--leader-elect');
      const validate = run(['validate', '-f', join(ROOT, 'examples/tenant')]);
      expect(validate.status, validate.stderr + validate.stdout).toBe(0);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }, 360_000);

  it('builds from what its build stage copies, and nothing else (.dockerignore applied)', () => {
    const build = steps.slice(0, lastFrom);
    const app = mkdtempSync(join(tmpdir(), 'mdmops-image-build-'));
    try {
      const copied = build.filter(([k, a]) => k === 'COPY' && !a.startsWith('--from')).flatMap(([, a]) => a.split(/\s+/).slice(0, -1));
      const left = (src: string) => ignored.some((pattern) => relative(ROOT, src).split(sep).includes(pattern));
      for (const src of copied) cpSync(join(ROOT, src), join(app, src), { recursive: true, filter: (from) => !left(from) });
      // The build stage's npm ci, as this machine installed it.
      symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'));
      const commands = build.filter(([k]) => k === 'RUN').map(([, a]) => a).find((a) => a.includes('npm run build'))!.split('&&').map((c) => c.trim()).filter((c) => c.startsWith('npm run build'));
      expect(commands.length).toBe(1);
      const ran = spawnSync('sh', ['-c', commands[0]!], { cwd: app, encoding: 'utf8', timeout: 300_000 });
      expect(ran.status, ran.stdout + ran.stderr).toBe(0);
      expect(existsSync(join(app, 'dist/cli/main.js'))).toBe(true);
      expect(existsSync(join(app, 'dist/bench'))).toBe(false);
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  }, 360_000);
});
