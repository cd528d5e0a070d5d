// A connector agent as a user runs it (mdmops connector agent ...), inside a test's customer network.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import type { NetNs } from '../servers/netns.js';
import { BIN_PATH, NODE } from './cli.js';

export interface AgentProcess {
  child: ChildProcess;
  /** What it wrote on stderr and stdout. */
  output(): string;
  /** Resolves when a line of its output matches. */
  waitForLine(pattern: RegExp, limitMs?: number): Promise<string>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) child.kill('SIGKILL');
});

export function startAgent(netns: NetNs, args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const [command, argv] = netns.wrap(NODE, [BIN_PATH, 'connector', 'agent', ...args]);
  const child = spawn(command, argv, { env: { ...process.env, NO_COLOR: '1', MDMOPS_LOG_JSON: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  const waiting = new Set<() => void>();
  const take = (c: Buffer) => {
    out += c.toString();
    for (const check of waiting) check();
  };
  child.stdout!.on('data', take);
  child.stderr!.on('data', take);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => (running.delete(child), resolve(code))));
  return {
    child,
    output: () => out,
    waitForLine(pattern, limitMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => pattern.test(l));
          if (!line) return;
          waiting.delete(check);
          clearTimeout(timer);
          resolve(line);
        };
        const timer = setTimeout(() => {
          waiting.delete(check);
          reject(new Error(`the agent wrote no line matching ${pattern} within ${limitMs} ms:\n${out.slice(-4000)}`));
        }, limitMs);
        waiting.add(check);
        check();
        void exited.then(() => setTimeout(() => {
          if (!waiting.has(check)) return;
          waiting.delete(check);
          clearTimeout(timer);
          reject(new Error(`the agent exited before writing a line matching ${pattern}:\n${out.slice(-4000)}`));
        }, 50));
      });
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (running.has(child)) child.kill(signal);
      return exited;
    },
  };
}
