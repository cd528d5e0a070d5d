// A real SCEP server (micromdm's scepserver, as Debian packages it) for tests: a fresh CA in a temp dir, gone after stop().
import { execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';
import type { NetNs } from './netns.js';

export interface ScepServer {
  url: string;
  challenge: string;
  caPem: string;
  /** SHA-256 of the CA certificate, hex lowercase. */
  caFingerprint: string;
  /** The tail of its log. */
  log(): string;
  stop(): Promise<void>;
}

const BIN = 'scepserver';
const START_TIMEOUT_MS = 15_000;

/** With `netns`, the server runs inside that network: mdmops reaches it only through a connector. */
export async function startScep(challenge = 'mdmops-test-challenge', options: { netns?: NetNs } = {}): Promise<ScepServer> {
  const { netns } = options;
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-scep-'));
  const depot = join(dir, 'depot');
  try {
    // 2048 bits rather than the default 4096: the CA key is generated for every run.
    await promisify(execFile)(BIN, ['ca', '-init', '-depot', depot, '-keySize', '2048', '-organization', 'mdmops-test', '-years', '1']);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${BIN} not found: run scripts/ensure-deps.sh --for-tests`);
    throw new Error(`${BIN} ca -init failed: ${err.stderr || err.message}`);
  }
  const caPem = readFileSync(join(depot, 'ca.pem'), 'utf8');
  const caFingerprint = new X509Certificate(caPem).fingerprint256.replace(/:/g, '').toLowerCase();

  const port = await freePort();
  // It listens on every interface (":PORT"): scepserver has no flag to bind to loopback only.
  // -allowrenew 0: the depot refuses a second certificate for a subject it has issued to, unless renewal is always allowed.
  const serverArgs = ['-depot', depot, '-port', String(port), '-challenge', challenge, '-allowrenew', '0'];
  const [command, args] = netns ? netns.wrap(BIN, serverArgs) : [BIN, serverArgs];
  // Its log (two lines a request, on stderr) goes to a file, not a pipe: a test blocked in a
  // synchronous child (an apply) cannot drain a pipe, and a full one stalls scepserver mid-request.
  const logFile = join(dir, 'scepserver.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', 'ignore', logFd] });
  closeSync(logFd); // the child has its own
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-16_384) : '');
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let running = true;
  void exited.then(() => { running = false; });
  let spawnError: Error | undefined;
  child.once('error', (e) => { spawnError = e; });

  const onExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const stop = async () => {
    process.off('exit', onExit);
    if (running && !spawnError) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}/scep`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      if (netns) {
        if (await netns.listening(port)) break;
        throw new Error('not listening yet');
      }
      const res = await fetch(`${url}?operation=GetCACaps`);
      if (res.ok) break;
      throw new Error(`HTTP ${res.status}`);
    } catch (e) {
      if (spawnError || !running || Date.now() > deadline) {
        await stop();
        const why = spawnError ? `could not start (${spawnError.message})` : running ? `did not answer GetCACaps within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${child.exitCode ?? child.signalCode}`;
        throw new Error(`${BIN} on port ${port} ${why} (last error: ${(e as Error).message})\n${log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return { url, challenge, caPem, caFingerprint, log, stop };
}
