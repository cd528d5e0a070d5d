// Running the mdmops command as a user would, in a child process.
import { spawn, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '../..');
// scripts/test-node24.sh runs some tests with the image's Node.js and a build of its own.
const BIN = process.env.MDMOPS_TEST_BIN ?? resolve(ROOT, 'bin/mdmops.js');
/** The Node.js that runs mdmops. */
export const NODE = process.env.MDMOPS_TEST_NODE ?? process.execPath;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export const BIN_PATH = BIN;

export function mdmops(args: string[], options: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Run {
  const env = { ...process.env, NO_COLOR: '1', ...options.env };
  const r = spawnSync(NODE, [BIN, ...args], { cwd: options.cwd ?? ROOT, input: options.input, encoding: 'utf8', timeout: 60_000, env,
    // Listings of thousands of users run past spawnSync's 1 MiB default.
    maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** No stack trace, no internal error. */
export function clean(run: Run): boolean {
  const all = run.stdout + run.stderr;
  return !/\n\s+at .+\(.+:\d+:\d+\)/.test(all) && !all.includes('internal error');
}

/** The same, without blocking the test's event loop: for tests that act while the command runs. */
export function mdmopsAsync(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const child = spawn(NODE, [BIN, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, NO_COLOR: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
}
