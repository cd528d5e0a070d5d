// A command a benchmark measures, in a process of its own: its wall time from spawn to exit, and,
// given a file, its peak RSS (written there by peak-rss.ts, loaded into it with --import).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The preload that writes a process's peak RSS: `node --import PEAK_RSS_PRELOAD ...`. */
export const PEAK_RSS_PRELOAD = pathToFileURL(join(import.meta.dirname, 'peak-rss.js')).href;

export interface Run {
  ms: number;
  peakRssMiB: number;
  stdout: string;
  stderr: string;
}

export async function timed(dir: string, argv: string[], env: NodeJS.ProcessEnv = {}, rssFile?: string): Promise<Run> {
  if (rssFile) rmSync(rssFile, { force: true });
  const start = process.hrtime.bigint();
  const child = spawn(argv[0]!, argv.slice(1), { cwd: dir, env: { ...process.env, NO_COLOR: '1', ...env, ...(rssFile ? { BENCH_PEAK_RSS_FILE: rssFile } : {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (code !== 0) throw new Error(`${argv.slice(-3).join(' ')} exited with ${code}:\n${stdout}${stderr}`);
  return { ms, peakRssMiB: rssFile && existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8')) : 0, stdout, stderr };
}
