// What bench/sync.ts and bench/tunnel.ts run a connector with, as a user does: `mdmops serve` with
// its gateway on the bench's store, a token, and `mdmops connector agent` with it. Resolves once the
// Connector is Ready; one-shot work then reaches the agent through the server's socket.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NetNs } from '../test/servers/netns.js';
import { freePort } from '../test/servers/ports.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/mdmops.js');

export interface ConnectorWorld {
  /** The server's Unix socket, through which one-shot work reaches the agent. */
  socket: string;
  agent: ChildProcess;
  /** The agent's peak resident set (VmHWM), in MiB. */
  agentPeakRssMiB(): number;
  stop(): Promise<void>;
}

/** With `netns`, the agent runs in that customer network, dialling out through a bridged port. */
export async function startConnectorWorld(dir: string, connector = 'dc', netns?: NetNs): Promise<ConnectorWorld> {
  const store = ['--store', `sqlite:${join(dir, 'tenant.db')}`, '--master-key-file', join(dir, 'master.key'), '--secrets-dir', join(dir, 'secrets')];
  const mdmops = (args: string[]) => spawnSync(process.execPath, [BIN, ...args, ...store], { encoding: 'utf8' });
  const [gateway, listen] = [await freePort(), await freePort()];
  const serve = spawn(process.execPath, [BIN, 'serve', ...store, '--gateway-listen', `127.0.0.1:${gateway}`, '--listen', `127.0.0.1:${listen}`, '--interval', '1h'], { stdio: 'ignore', env: { ...process.env, MDMOPS_LOG_JSON: '1' } });
  const socket = join(dir, 'connectors.sock');
  for (let i = 0; !existsSync(socket); i++) {
    if (i > 300 || serve.exitCode !== null) throw new Error('mdmops serve did not start its gateway');
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = mdmops(['connector', 'token', `Connector/${connector}`]);
  if (token.status !== 0) throw new Error(token.stderr);
  writeFileSync(join(dir, 'token'), token.stdout);
  const agentArgs = [BIN, 'connector', 'agent', '--server', `https://127.0.0.1:${gateway}`, '--token-file', join(dir, 'token'), '--state-dir', join(dir, 'agent')];
  if (netns) await netns.bridgeOut(gateway, gateway); // inside, the same port number leads out to the gateway
  const agent = spawn(...(netns ? netns.wrap(process.execPath, agentArgs) : [process.execPath, agentArgs] as const), { stdio: 'ignore' });
  for (let i = 0; ; i++) {
    const status = mdmops(['status', `Connector/${connector}`, '-o', 'json']);
    const ready = status.status === 0 && (JSON.parse(status.stdout) as { status: { conditions?: { type: string; status: string }[] } }).status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    if (ready) break;
    if (i > 300) throw new Error(`Connector/${connector} did not become Ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  let peak = 0;
  return {
    socket,
    agent,
    agentPeakRssMiB() {
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'));
      peak = Math.max(peak, Number(hwm?.[1] ?? 0) / 1024);
      return peak;
    },
    async stop() {
      for (const child of [agent, serve]) {
        if (child.exitCode !== null) continue;
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}
