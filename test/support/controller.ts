// `mdmops controller` started as the chart starts it, in a child process, for the controller tests:
// its HTTP port, its log, its metrics, and ways to stop it (SIGTERM) or kill it (SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { BIN_PATH, NODE, ROOT } from './cli.js';

export interface ControllerProcess {
  child: ChildProcess;
  port: number;
  /** Everything it wrote so far (stdout and stderr). */
  log(): string;
  exited: Promise<number | null>;
  get(path: string): Promise<{ status: number; body: string }>;
  /**
   * Prometheus samples by name and label text, from one scrape: metric('mdmops_controller_api_writes_total', { verb: 'patch' })
   * sums those; `except` leaves out the samples that carry any of its labels.
   */
  metric(name: string, labels?: Record<string, string>, except?: Record<string, string>): Promise<number>;
  /** SIGTERM, then waits; SIGKILL after 30s. */
  stop(): Promise<number | null>;
}

export function startController(args: string[], port: number, env: NodeJS.ProcessEnv = {}): ControllerProcess {
  const child = spawn(NODE, [BIN_PATH, 'controller', '--listen', `127.0.0.1:${port}`, ...args], {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1', MDMOPS_LOG_JSON: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, timeout: 10_000, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end();
    });
  return {
    child,
    port,
    log: () => out,
    exited,
    get,
    async metric(name, labels = {}, except = {}) {
      const { body } = await get('/metrics');
      let sum = 0;
      for (const line of body.split('\n')) {
        const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const text = m[2] ?? '';
        const has = ([k, v]: [string, string]) => text.includes(`${k}="${v}"`);
        if (Object.entries(labels).every(has) && !Object.entries(except).some(has)) sum += Number(m[3]);
      }
      return sum;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Polls until check returns a value (not undefined/false) or the deadline passes; then throws with what it last saw. */
export async function eventually<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs / 1000}s (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
