// A real, private ACME CA on loopback for tests: Pebble (Let's Encrypt's test CA) with
// pebble-challtestsrv as its DNS server, answering 127.0.0.1 for every name. Validation is real:
// Pebble fetches http://<name>:<http01Port>/.well-known/acme-challenge/<token>, so the client
// under test must serve that port. Gone, with its temp dir, after stop().
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './ports.js';

export interface PebbleServer {
  /** The ACME directory, https on 127.0.0.1. */
  directoryUrl: string;
  /** Pebble's own TLS certificate (self-signed, made at start): what a client must trust to talk to it. */
  caPem: string;
  /** The port Pebble connects to for http-01 validation: the client under test serves it. */
  http01Port: number;
  /** An external account binding Pebble knows; required for new accounts only with { eabRequired: true }. */
  eab: { keyId: string; hmacKey: string };
  /** The issuing root followed by the intermediate, as Pebble made them at this start (new every start). */
  rootPem(): Promise<string>;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Refuse new accounts without an external account binding. */
  eabRequired?: boolean;
  /** Percentage of new orders that reuse an earlier valid authorization for the same name (Pebble's default is 50; here 0, so each order is validated). */
  authzReuse?: number;
}

const PEBBLE = '/usr/bin/pebble';
const CHALLTESTSRV = '/usr/bin/pebble-challtestsrv';
const START_TIMEOUT_MS = 30_000;

/** A GET that resolves with status and body, or rejects on a connection error (TLS trust included). */
function fetchText(url: string, caPem?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const onResponse = (res: import('node:http').IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    };
    const req = url.startsWith('https:') ? httpsGet(url, { ca: caPem, timeout: 5_000 }, onResponse) : httpGet(url, { timeout: 5_000 }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`timeout fetching ${url}`)));
    req.on('error', reject);
  });
}

/** A base64url HMAC key as CAs hand them out, with at least one of the URL-safe characters in it. */
function hmacKey(): string {
  for (;;) {
    const key = randomBytes(32).toString('base64url');
    if (/[-_]/.test(key)) return key;
  }
}

interface Proc {
  child: ChildProcess;
  exited: Promise<void>;
  running(): boolean;
  log(): string;
}

function launch(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Proc {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  // Keep draining both pipes (Pebble logs to stdout) so the server never blocks; the tail is enough for errors.
  const keep = (chunk: Buffer) => { log = (log + chunk.toString()).slice(-16_384); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let running = true;
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running = false; resolve(); }));
  return { child, exited, running: () => running, log: () => log };
}

async function waitFor(what: string, proc: Proc, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let last = '';
  for (;;) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (!proc.running() || Date.now() > deadline) {
      const why = proc.running() ? `did not answer within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${proc.child.exitCode ?? proc.child.signalCode}`;
      throw new Error(`${what} ${why}${last ? ` (last error: ${last})` : ''}\n${proc.log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startPebble(options: PebbleOptions = {}): Promise<PebbleServer> {
  for (const bin of [PEBBLE, CHALLTESTSRV]) {
    if (!existsSync(bin)) throw new Error(`${bin} not found (Debian package pebble): run scripts/ensure-deps.sh --for-tests`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-pebble-'));
  const procs: Proc[] = [];

  const onExit = () => {
    for (const p of procs) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    for (const p of procs) {
      if (p.running()) {
        p.child.kill('SIGTERM');
        await p.exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // Pebble's TLS certificate: the Debian package ships none. Self-signed, for 127.0.0.1 and localhost.
    await promisify(execFile)('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2',
      '-subj', '/CN=pebble test server',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ]);
    const caPem = readFileSync(join(dir, 'cert.pem'), 'utf8');

    const [acmePort, mgmtPort, http01Port, tlsPort, dnsPort, dnsMgmtPort] = await Promise.all(Array.from({ length: 6 }, () => freePort())) as [number, number, number, number, number, number];
    const eab = { keyId: 'kid-1', hmacKey: hmacKey() };
    writeFileSync(join(dir, 'pebble.json'), JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: http01Port,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: options.eabRequired ?? false,
        externalAccountMACKeys: { [eab.keyId]: eab.hmacKey },
      },
    }));

    // DNS only: every A query answers 127.0.0.1 and AAAA nothing, so Pebble validates over IPv4 loopback.
    const dns = launch(CHALLTESTSRV, [
      '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsMgmtPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '',
      '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
    ], process.env, dir);
    procs.push(dns);
    await waitFor('pebble-challtestsrv', dns, async () => (await fetchText(`http://127.0.0.1:${dnsMgmtPort}/`)).status > 0);

    // Never PEBBLE_VA_ALWAYS_VALID, even if the caller's environment has it: validation stays real.
    const { PEBBLE_VA_ALWAYS_VALID: _alwaysValid, ...env } = process.env;
    const pebble = launch(PEBBLE, ['-config', join(dir, 'pebble.json'), '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
      ...env,
      PEBBLE_VA_NOSLEEP: '1',
      PEBBLE_WFE_NONCEREJECT: '0',
      PEBBLE_AUTHZREUSE: String(options.authzReuse ?? 0),
    }, dir);
    procs.push(pebble);
    const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor(`pebble on port ${acmePort}`, pebble, async () => (await fetchText(directoryUrl, caPem)).status === 200);

    const rootPem = async () => {
      const parts: string[] = [];
      for (const path of ['roots/0', 'intermediates/0']) {
        const { status, body } = await fetchText(`https://127.0.0.1:${mgmtPort}/${path}`, caPem);
        if (status !== 200) throw new Error(`pebble management /${path} answered ${status}: ${body}`);
        parts.push(body.endsWith('\n') ? body : `${body}\n`);
      }
      return parts.join('');
    };

    return { directoryUrl, caPem, http01Port, eab, rootPem, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
