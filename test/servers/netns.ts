// A "customer network" on this machine: a network namespace of its own (unshare -n), with only a
// loopback, where the tests run the servers mdmops must reach only through a connector's agent,
// and the agent itself. mdmops, outside, cannot reach anything in it; only the ports a test bridges
// in (socat over a Unix socket, which crosses namespaces) lead from inside out.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawnServer, stopServer, type ServerProcess } from './process.js';

export interface NetNs {
  /** The command and arguments that run `command` inside the namespace. */
  wrap(command: string, args: string[]): [string, string[]];
  /** Whether something inside listens on 127.0.0.1:port. */
  listening(port: number): Promise<boolean>;
  /** Makes 127.0.0.1:insidePort inside lead to 127.0.0.1:outsidePort outside (the gateway, a proxy). */
  bridgeOut(insidePort: number, outsidePort: number): Promise<void>;
  /** A Unix socket, outside, that leads to 127.0.0.1:insidePort inside (for a test's own tools in front of a server there). */
  bridgeIn(insidePort: number): Promise<string>;
  stop(): Promise<void>;
}

const run = promisify(execFile);

async function socketMade(socket: string): Promise<void> {
  for (let i = 0; !(await run('test', ['-S', socket]).then(() => true, () => false)); i++) {
    if (i > 200) throw new Error('socat did not make its socket');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startNetNs(): Promise<NetNs> {
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-netns-'));
  const holder = spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec sleep 86400'], { stdio: 'ignore' });
  const wrap = (command: string, args: string[]): [string, string[]] => ['nsenter', ['-t', String(holder.pid), '-n', command, ...args]];
  const bridges: ServerProcess[] = [];
  const listening = async (port: number) => {
    const [cmd, args] = wrap('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`]);
    return run(cmd, args, { timeout: 5000 }).then(() => true, () => false);
  };
  for (let i = 0; ; i++) {
    const [cmd, args] = wrap('ip', ['-o', 'link', 'show', 'lo']);
    const up = await run(cmd, args).then((r) => /UP/.test(r.stdout.split('<')[1] ?? ''), () => false);
    if (up) break;
    if (i > 100) throw new Error('the test network namespace did not come up');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    wrap,
    listening,
    async bridgeOut(insidePort, outsidePort) {
      const socket = join(dir, `bridge-${insidePort}.sock`);
      bridges.push(spawnServer('socat', [`UNIX-LISTEN:${socket},fork`, `TCP:127.0.0.1:${outsidePort}`], dir, 'SIGKILL'));
      await socketMade(socket);
      const [cmd, args] = wrap('socat', [`TCP-LISTEN:${insidePort},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${socket}`]);
      bridges.push(spawnServer(cmd, args, dir, 'SIGKILL'));
      for (let i = 0; !(await listening(insidePort)); i++) {
        if (i > 200) throw new Error(`the bridge to port ${outsidePort} did not start`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async bridgeIn(insidePort) {
      const socket = join(dir, `into-${insidePort}.sock`);
      const [cmd, args] = wrap('socat', [`UNIX-LISTEN:${socket},fork`, `TCP:127.0.0.1:${insidePort}`]);
      bridges.push(spawnServer(cmd, args, dir, 'SIGKILL'));
      await socketMade(socket);
      return socket;
    },
    async stop() {
      await Promise.all(bridges.map((b) => stopServer(b, 1000)));
      holder.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
