// A server process for tests: its log drained (the tail kept for errors), and killed with its temp
// dir removed if the test process exits first, so nothing holds ports or disk after a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';

export interface ServerProcess {
  child: ChildProcess;
  exited: Promise<void>;
  running(): boolean;
  /** The last 16 KiB of its stderr (or of its log file). */
  log(): string;
  /** Stops watching for the test process's exit: call when stopping it yourself. */
  release(): void;
}

/**
 * With `logFile`, its stderr is appended to that file rather than read through a pipe: a test blocked
 * in a synchronous child (an apply) cannot drain a pipe, and a server that logs into a full one stalls.
 */
export function spawnServer(command: string, args: string[], dir: string, exitSignal: NodeJS.Signals, logFile?: string): ServerProcess {
  const logFd = logFile ? openSync(logFile, 'a') : undefined;
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'ignore', logFd ?? 'pipe'] });
  if (logFd !== undefined) closeSync(logFd); // the child has its own
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-16_384); });
  const log = () => (logFile ? (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-16_384) : '') : stderr);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => { running = false; });
  const onExit = () => {
    child.kill(exitSignal);
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // the server may still be writing as it dies; a stray temp dir is not worth failing the exit for
    }
  };
  process.on('exit', onExit);
  return { child, exited, running: () => running, log, release: () => process.off('exit', onExit) };
}

/** SIGTERM, then SIGKILL should it not exit within graceMs: a stuck server must not hang the tests. */
export async function stopServer(server: ServerProcess, graceMs: number): Promise<void> {
  server.release();
  if (!server.running()) return;
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  await server.exited;
  clearTimeout(timer);
}

/** uid and gid of a system user, from /etc/passwd (a database server's, which refuses to run as root). */
export function systemUser(name: string): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} system user: run scripts/ensure-deps.sh --for-tests`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** The command run as a system user: setpriv execs in place, so our child is the server itself and gets our signals. */
export function asSystemUser(name: string, command: string, args: string[]): [string, string[]] {
  return ['setpriv', [`--reuid=${name}`, `--regid=${name}`, '--init-groups', command, ...args]];
}
