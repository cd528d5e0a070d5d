// `mdmops run` as a long-running child process (spawned, never waited on synchronously), watched
// through its status API: tests wait for a state, never for a time.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { freePort } from '../servers/ports.js';
import { BIN_PATH, NODE } from './cli.js';

export interface RunningMdmops {
  child: ChildProcess;
  base: string;
  /** Everything it wrote (JSON log lines on stderr, anything on stdout). */
  output(): string;
  status(): Promise<Status>;
  metrics(): Promise<string>;
  /** Polls the status until `check` returns something truthy, and returns it. */
  waitFor<T>(what: string, check: (s: Status) => T | undefined | false | null, limitMs?: number): Promise<T>;
  /** Sends the signal and waits for the exit: its exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

// The status API's shape, loosely: tests read what they check.
export type Status = any;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * fetch, tried again once when a kept-alive connection was closed under it: while a test runs a
 * synchronous child, its client cannot notice the server's keep-alive timeout.
 */
export async function request(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    if ((e as Error).message !== 'fetch failed') throw e;
    return fetch(url, init);
  }
}

// Whatever a failed test leaves running is killed: after the file's tests, or when the worker exits.
const running = new Set<ChildProcess>();
const killAll = () => { for (const child of running) child.kill('SIGKILL'); };
afterAll(killAll);
process.on('exit', killAll);

/** `listenHost` '' listens on every interface (the tests still call it on 127.0.0.1). */
export function startRun(cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, listenHost = '127.0.0.1'): Promise<RunningMdmops> {
  return startMdmops('run', cwd, args, env, listenHost);
}

export interface StartOptions {
  /**
   * A command that runs mdmops (its argv follows), e.g. unshare into a mount namespace of its own; it
   * must exec mdmops, so that a signal sent to the child reaches mdmops itself.
   */
  wrap?: string[];
}

/** A long-running mode (run, serve), listening on a free port. */
export async function startMdmops(command: string, cwd: string, args: string[], env: NodeJS.ProcessEnv = {}, listenHost = '127.0.0.1', options: StartOptions = {}): Promise<RunningMdmops> {
  const port = await freePort();
  const argv = [NODE, BIN_PATH, command, ...args, '--listen', `${listenHost}:${port}`];
  const [program, ...rest] = [...(options.wrap ?? []), ...argv];
  const child = spawn(program!, rest, {
    cwd,
    env: { ...process.env, NO_COLOR: '1', MDMOPS_LOG_JSON: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  running.add(child);
  void exited.then(() => running.delete(child));
  const base = `http://127.0.0.1:${port}`;
  const status = async () => (await request(`${base}/status`)).json() as Promise<Status>;
  const waitFor = async <T>(what: string, check: (s: Status) => T | undefined | false | null, limitMs = 45_000): Promise<T> => {
    const deadline = Date.now() + limitMs;
    let last: Status;
    for (;;) {
      if (!running.has(child)) throw new Error(`mdmops ${command} exited while waiting for ${what}:\n${out.slice(-4000)}`);
      try {
        last = await status();
        const got = check(last);
        if (got) return got;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last status:\n${JSON.stringify(last, null, 2)}\nlog:\n${out.slice(-4000)}`);
      await sleep(100);
    }
  };
  return {
    child,
    base,
    output: () => out,
    status,
    metrics: async () => (await request(`${base}/metrics`)).text(),
    waitFor,
    async stop(signal = 'SIGTERM') {
      if (running.has(child)) child.kill(signal);
      return exited;
    },
    exited,
  };
}
