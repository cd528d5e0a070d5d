// A connector agent as a user runs it (mdmops connector agent ...), inside a test's customer network.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { join } from 'node:path';
import type { NetNs } from '../servers/netns.js';
import { freePort } from '../servers/ports.js';
import { BIN_PATH, NODE } from './cli.js';
import { startMdmops, startRun, type RunningMdmops, type Status } from './run.js';
import type { Workspace } from './workspace.js';

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

/** `netns`: the customer network it runs in; without, it runs beside the test, dialling out all the same. */
export function startAgent(netns: NetNs | undefined, args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  const agentArgs = [BIN_PATH, 'connector', 'agent', ...args];
  const [command, argv] = netns ? netns.wrap(NODE, agentArgs) : [NODE, agentArgs];
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

/**
 * What a user does before a Connector can carry traffic: mdmops serve with its gateway on the
 * workspace's store, a token, and the agent started with it; resolves once the Connector is Ready.
 * Start it before applying identity sources: serve syncs those that are due when it starts.
 * With `netns`, the agent runs in that customer network and dials out through a bridged port.
 */
export interface ConnectedAgent {
  serve: RunningMdmops;
  agent: AgentProcess;
  /** The gateway's port, which another server may take over: the agent comes back to it by itself. */
  port: number;
  stop(): Promise<void>;
}

const connectorReady = (connector: string) => (s: Status) => s.resources.some((r: { resource: string; ready: string }) => r.resource === `Connector/${connector}` && r.ready === 'True');

export async function connectedAgent(ws: Workspace, connector = 'dc', o: { netns?: NetNs; serveArgs?: string[] } = {}): Promise<ConnectedAgent> {
  const port = await freePort();
  // Inside, the bridge takes the same port number: the namespace has ports of its own.
  if (o.netns) await o.netns.bridgeOut(port, port);
  const serveArgs = ['--gateway-listen', `127.0.0.1:${port}`, '--interval', '1h', ...(o.serveArgs ?? [])];
  const serve = await startMdmops('serve', ws.dir, serveArgs);
  await serve.waitFor('the connector gateway', () => serve.output().includes('connector gateway listening'));
  const token = ws.run(['connector', 'token', `Connector/${connector}`]);
  if (token.code !== 0) throw new Error(`mdmops connector token failed: ${token.stderr}`);
  const tokenFile = ws.write(`${connector}.token`, token.stdout);
  const agent = startAgent(o.netns, ['--server', `https://127.0.0.1:${port}`, '--token-file', tokenFile, '--state-dir', join(ws.dir, `agent-${connector}`)]);
  await serve.waitFor(`Connector/${connector} Ready`, connectorReady(connector));
  serveArgsOf.set(serve, serveArgs);
  return {
    serve,
    agent,
    port,
    async stop() {
      await agent.stop();
      await serve.stop();
    },
  };
}

const serveArgsOf = new WeakMap<RunningMdmops, string[]>();

/**
 * `mdmops run` (with `args`) takes the gateway's port over from connectedAgent's serve, and so holds
 * the tunnel itself, once the agent has come back to it; `back()` stops it (its exit code) and gives
 * the port back to a serve as before.
 */
export async function gatewayInRun(ws: Workspace, tunnel: ConnectedAgent, args: string[], env: NodeJS.ProcessEnv = {}, connector = 'dc'): Promise<{ run: RunningMdmops; back(): Promise<number | null> }> {
  const serveArgs = serveArgsOf.get(tunnel.serve)!;
  await tunnel.serve.stop();
  const run = await startRun(ws.dir, [...args, '--gateway-listen', `127.0.0.1:${tunnel.port}`], env);
  await run.waitFor(`Connector/${connector} connected to mdmops run`, connectorReady(connector));
  return {
    run,
    async back() {
      const code = await run.stop();
      tunnel.serve = await startMdmops('serve', ws.dir, serveArgs, env);
      serveArgsOf.set(tunnel.serve, serveArgs);
      await tunnel.serve.waitFor(`Connector/${connector} back with serve`, connectorReady(connector));
      return code;
    },
  };
}
