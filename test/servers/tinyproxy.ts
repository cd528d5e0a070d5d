// tinyproxy (Debian) for tests: the HTTP CONNECT proxy a customer puts between a connector agent and
// us, on a loopback port, with Basic credentials and a CONNECT port list when asked for.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { messageOf } from '../../src/util/message-of.js';
import { freePort, waitForPort } from './ports.js';
import { spawnServer, stopServer } from './process.js';

export interface Tinyproxy {
  port: number;
  /** http://127.0.0.1:PORT, without credentials. */
  url: string;
  stop(): Promise<void>;
}

export interface TinyproxyOptions {
  /** With password: CONNECT needs these Basic credentials (letters, digits, - _ . : its config refuses @ : %). */
  user?: string;
  password?: string;
  /** CONNECT only to these ports (tinyproxy's ConnectPort); any port when not given. */
  connectPorts?: number[];
}

const STOP_TIMEOUT_MS = 5_000;

export async function startTinyproxy(options: TinyproxyOptions = {}): Promise<Tinyproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-tinyproxy-'));
  const port = await freePort();
  const config = join(dir, 'tinyproxy.conf');
  // tinyproxy writes its log to stdout or a file (it refuses /dev/stderr): a file, read when it fails.
  const logFile = join(dir, 'tinyproxy.log');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      ...(options.user && options.password ? [`BasicAuth ${options.user} ${options.password}`] : []),
      ...(options.connectPorts ?? []).map((p) => `ConnectPort ${p}`),
      'Timeout 60',
      'LogLevel Info',
      `LogFile "${logFile}"`,
      'MaxClients 50',
      '',
    ].join('\n'),
  );
  const server = spawnServer('tinyproxy', ['-d', '-c', config], dir, 'SIGKILL');

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await stopServer(server, STOP_TIMEOUT_MS); // it closes open tunnels and exits within a second or so
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    await waitForPort(`tinyproxy on port ${port}`, server, port);
  } catch (e) {
    const log = readLog(logFile);
    await stop();
    throw new Error(`${messageOf(e)}\n${log}`);
  }
  return { port, url: `http://127.0.0.1:${port}`, stop };
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-16_384);
  } catch {
    return '(no log written)'; // it failed before opening its log
  }
}
