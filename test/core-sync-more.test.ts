// More of core sync between two real mdmops cores, through the CLI as a user runs it (the same
// approach as core-sync.test.ts: each core a store of its own, the target a `mdmops serve` with a
// core-sync endpoint on an openssl-made certificate for a fully qualified name, which the sending
// side resolves through a hosts file of its own, in a mount namespace). Client-certificate
// security; the sending core's `mdmops serve` pushing a change by itself, and sending nothing when
// nothing changed; CoreSyncFailing after five failures in a row; an older generation refused (and
// a target made again on the sender going on from the tenant's generation); the target killed
// mid-sync and restarted.
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, makeCa, type CertFiles } from './servers/certs.js';
import { freePort } from './servers/ports.js';
import { BIN_PATH, NODE } from './support/cli.js';
import { eventually } from './support/controller.js';
import { startMdmops, type RunningMdmops } from './support/run.js';
import { doc, workspace, type Workspace } from './support/workspace.js';

const FQDN = 'core-d.mdmops-test.example';
const PASSWORD = 'another-long-sync-password';
const CORE = 'core-a';

const dir = mkdtempSync(join(tmpdir(), 'mdmops-core-sync-more-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hosts = join(dir, 'hosts');
writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${FQDN}\n`);
/** Runs a command with FQDN resolving to this machine: /etc/hosts replaced in a mount namespace of its own. */
const IN_NAMESPACE = ['unshare', '--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts];
const SENDER_ENV = { NO_COLOR: '1', MDMOPS_SECRET_CORE_D__PASSWORD: PASSWORD };

/** mdmops on a sending core (its workspace), as a user runs it there. */
function sender(ws: Workspace) {
  return (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync(IN_NAMESPACE[0]!, [...IN_NAMESPACE.slice(1), NODE, BIN_PATH, ...args], { cwd: ws.dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...SENDER_ENV, ...env } });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
}

/** The same, without blocking the test: for a test that acts while it runs. */
function senderAsync(ws: Workspace) {
  return (args: string[]) => {
    const child = spawn(IN_NAMESPACE[0]!, [...IN_NAMESPACE.slice(1), NODE, BIN_PATH, ...args], { cwd: ws.dir, env: { ...process.env, ...SENDER_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
  };
}

const fingerprint = (c: CertFiles) => new X509Certificate(readFileSync(c.cert)).fingerprint256.replace(/:/g, '').toLowerCase();
const space = (name: string, i: number) => doc('Space', name, `displayName: ${name.toUpperCase()}\npriority: ${i + 1}\nmembers: { groups: [${name}] }\nadmins: { groups: [${name}-admins] }`);
const target = (port: number, pin: string, extra = '') =>
  doc('CoreSyncTarget', 'core-d', `fqdn: ${FQDN}\nport: ${port}\ncredentials: { username: sync, passwordSecretRef: { name: core-d, key: password } }\ntrust: { certificateSha256: "${pin}" }${extra}`);
const configuration = (port: number, pin: string, spaces: string[], extra = '') => spaces.map(space).join('') + target(port, pin, extra);

/** The reasons of the active notifications of a core. */
const notices = (run: (args: string[]) => { stdout: string }): string[] => JSON.parse(run(['notifications', '-o', 'json']).stdout).map((n: { reason: string }) => n.reason);

/** The receiving core: its workspace with a sync account, and its `mdmops serve` with the core-sync endpoint. */
function receivingCore() {
  const ws = workspace();
  let serving: RunningMdmops | undefined;
  let port = 0;
  let cert: CertFiles;
  const core = {
    ws,
    get port() {
      return port;
    },
    get cert() {
      return cert;
    },
    get serving() {
      return serving!;
    },
    async setUp(name: string) {
      port = await freePort();
      cert = await issueCert(dir, await makeCa(dir, `${name}-ca`, `${name} CA`), name, { subject: `/CN=${FQDN}`, usage: 'serverAuth', san: `DNS:${FQDN}` });
      writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);
      const account = ws.run(['core-sync', 'account', 'add', 'sync', '--password-file', join(dir, 'password')]);
      expect(account.code, account.stderr).toBe(0);
    },
    async start(extra: string[] = []) {
      await serving?.stop();
      serving = await startMdmops('serve', ws.dir, ['--core-sync-listen', `127.0.0.1:${port}`, '--core-sync-cert', cert.cert, '--core-sync-key', cert.key, '--core-name', 'core-d', '--interval', '1h', ...extra]);
      await serving.waitFor('the core-sync endpoint', () => serving!.output().includes('core sync listening'));
    },
    stop: (signal?: NodeJS.Signals) => serving?.stop(signal),
    /** What it holds: Kind/name of every resource of its store. */
    held: (): string[] => JSON.parse(spawnSync(NODE, [BIN_PATH, 'status', '-o', 'json'], { cwd: ws.dir, encoding: 'utf8', maxBuffer: 1 << 28 }).stdout).items.map((r: { kind: string; metadata: { name: string } }) => `${r.kind}/${r.metadata.name}`).sort(),
    received: () => JSON.parse(ws.run(['core-sync', 'log', '--received', '-o', 'json']).stdout) as { from: string; result: string; generation: number }[],
  };
  afterAll(() => core.stop());
  return core;
}

describe('client-certificate security', () => {
  const receiver = receivingCore();
  const source = workspace();
  const send = sender(source);
  let clients: { good: CertFiles; stranger: CertFiles; ca: CertFiles };
  beforeAll(async () => {
    await receiver.setUp('client-cert-server');
    const ca = await makeCa(dir, 'client-ca', 'Core Clients CA');
    const good = await issueCert(dir, ca, 'client-good', { subject: `/CN=${CORE}`, usage: 'clientAuth' });
    const stranger = await issueCert(dir, await makeCa(dir, 'other-client-ca', 'Another CA'), 'client-stranger', { subject: `/CN=${CORE}`, usage: 'clientAuth' });
    clients = { good, stranger, ca };
    await receiver.start(['--core-sync-client-ca', ca.cert]);
  });
  const withClientCertificate = '\nclientCertificate:\n  certificateSecretRef: { name: core-d-client, key: tls.crt }\n  privateKeySecretRef: { name: core-d-client, key: tls.key }';
  /** Handshakes the receiver logged as failed. */
  const failedHandshakes = () => receiver.serving.output().split('\n').filter((l) => l.includes('core sync: a TLS handshake failed'));
  let logged = 0;
  /** Said on the sender; nothing received, no push reached the endpoint's handler, and the receiver logged the refused handshake. */
  const refusedInTheHandshake = async (reason: string) => {
    expect(notices(send)).toContain('CoreSyncAuthFailed');
    expect(receiver.held()).toEqual([]);
    expect(receiver.received()).toEqual([]);
    expect(receiver.serving.output()).not.toContain('core sync: a push');
    const lines = await eventually('the refused handshake in the receiver\'s log', () => failedHandshakes().length > logged && failedHandshakes());
    logged = lines.length;
    expect(lines.at(-1)).toContain(reason);
  };
  /** The client certificate in the sending core's secrets folder, as a user copies it there. */
  const copyClientCertificate = (c: CertFiles) => {
    source.write('.mdmops/secrets/core-d-client/tls.crt', readFileSync(c.cert, 'utf8'));
    source.write('.mdmops/secrets/core-d-client/tls.key', readFileSync(c.key, 'utf8'));
  };

  it('refuses a sender without a client certificate, and the sender says why; the receiver logs it', async () => {
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas']));
    const applied = send(['apply', '-f', 'config', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code).toBe(1);
    expect(synced.stderr).toContain(`${FQDN}:${receiver.port} refused the connection: it requires a client certificate (TLS alert "certificate required"), and this target has no spec.clientCertificate; nothing was sent`);
    await refusedInTheHandshake('"from":"127.0.0.1","err":"peer did not return a certificate"');
  });

  it('refuses a client certificate of another CA', async () => {
    copyClientCertificate(clients.stranger);
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas'], withClientCertificate));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code).toBe(1);
    expect(synced.stderr).toContain(`${FQDN}:${receiver.port} refused the client certificate (CN=${CORE}, issued by CN=Another CA, valid to `);
    expect(synced.stderr).toContain('it takes only certificates of the CA it trusts for core sync (--core-sync-client-ca there); nothing was sent');
    await refusedInTheHandshake('"err":"client certificate refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE"');
  });

  it('accepts a client certificate of the trusted CA, read from the secrets folder or the environment', () => {
    copyClientCertificate(clients.good);
    const synced = send(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain('Applied');
    expect(receiver.held()).toEqual(['Space/americas', 'Space/emea']);
    expect(notices(send)).not.toContain('CoreSyncAuthFailed');

    // The same from the environment, over a folder that holds the stranger's.
    copyClientCertificate(clients.stranger);
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas', 'apac'], withClientCertificate));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const env = { MDMOPS_SECRET_CORE_D_CLIENT__TLS_CRT: readFileSync(clients.good.cert, 'utf8'), MDMOPS_SECRET_CORE_D_CLIENT__TLS_KEY: readFileSync(clients.good.key, 'utf8') };
    const again = send(['sync', 'CoreSyncTarget/core-d'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(receiver.held()).toEqual(['Space/americas', 'Space/apac', 'Space/emea']);
  });
});

interface LogEntry {
  time: string;
  result: string;
  generation: number | null;
  items: number | null;
  bytes: number;
  certificateSha256: string | null;
}

describe("the sending core's mdmops serve", () => {
  const receiver = receivingCore();
  const source = workspace();
  const send = sender(source);
  let serving: RunningMdmops | undefined;
  afterAll(() => serving?.stop());
  const log = (): LogEntry[] => JSON.parse(send(['core-sync', 'log', 'CoreSyncTarget/core-d', '-o', 'json']).stdout);
  /** Waits until serve has looked for due syncs `n` more times. */
  const looks = async (n: number) => {
    const seen = new Set<string>();
    const first = (await serving!.status()).lastSyncCheck;
    await serving!.waitFor(`${n} more looks for due syncs`, (s) => {
      if (s.lastSyncCheck && s.lastSyncCheck !== first) seen.add(s.lastSyncCheck);
      return seen.size >= n;
    }, 30_000);
  };
  beforeAll(async () => {
    await receiver.setUp('serve-push-server');
    await receiver.start();
  });

  it('pushes by itself what it holds, then a change applied with the CLI', async () => {
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas']));
    const applied = send(['apply', '-f', 'config', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);
    // The apply looked at the target, sent nothing: only serve syncs.
    expect(receiver.held()).toEqual([]);
    serving = await startMdmops('serve', source.dir, ['--interval', '1s'], SENDER_ENV, '127.0.0.1', { wrap: IN_NAMESPACE });
    await eventually('the target holds the configuration', () => receiver.held().join() === 'Space/americas,Space/emea' || undefined, 30_000);

    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas', 'apac']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    await eventually('the target holds the change', () => receiver.held().join() === 'Space/americas,Space/apac,Space/emea' || undefined, 30_000);
    // The target holds it before the sender has its answer: the sender's log line comes after.
    await eventually('the sender logs the push', () => serving!.output().includes('"msg":"synced CoreSyncTarget/core-d: Applied: ') || undefined, 10_000);
    const entries = log();
    expect(entries.map((e) => [e.result, e.generation, e.items])).toEqual([['Applied', 2, 3], ['Applied', 1, 2]]);
    expect(receiver.received().map((e) => e.generation)).toEqual([2, 1]);
  });

  it('sends nothing while nothing changes, then only small Unchanged checks each syncInterval', async () => {
    const before = log();
    const received = receiver.received();
    // syncInterval is 2 minutes: several looks, and not one sync.
    await looks(4);
    expect(log()).toEqual(before);
    expect(receiver.received()).toEqual(received);

    // A syncInterval of 2 s (the target's own spec: not content that is sent): checks, and only checks.
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas', 'apac'], '\nsyncInterval: 2s'));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const checks = await eventually('two checks on the interval', () => {
      const added = log().slice(0, -before.length);
      return added.length >= 2 ? added : undefined;
    }, 30_000);
    for (const e of checks) {
      expect(e).toMatchObject({ result: 'Unchanged', generation: 2, items: null, certificateSha256: fingerprint(receiver.cert) });
      expect(e.bytes).toBeGreaterThan(0);
      expect(e.bytes).toBeLessThan(1024);
    }
    const apart = Date.parse(checks[0]!.time) - Date.parse(checks[1]!.time);
    expect(apart).toBeGreaterThanOrEqual(2000);
    expect(receiver.received()).toEqual(received);
    expect(receiver.held()).toEqual(['Space/americas', 'Space/apac', 'Space/emea']);
  });
});

describe("the sending core's outbound address policy", () => {
  const receiver = receivingCore();
  const source = workspace();
  const send = sender(source);
  let serving: RunningMdmops | undefined;
  afterAll(() => serving?.stop());
  beforeAll(async () => {
    await receiver.setUp('outbound-server');
    await receiver.start();
  });
  /** A second tenant: serve is then a mode tenants share, where no tenant's target may be internal. */
  const otherTenant = space('other', 0).replace('metadata:\n', 'metadata:\n  namespace: tenant-b\n');

  it('keeps a target on an internal address from tenants sharing serve, until --allow-internal-targets', async () => {
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea']) + otherTenant);
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0); // a one-shot command on the administrator's machine: it may look
    serving = await startMdmops('serve', source.dir, ['--interval', '1s'], SENDER_ENV, '127.0.0.1', { wrap: IN_NAMESPACE });
    const refused = await eventually('the refusal in the target\'s status', () => {
      const status = JSON.parse(send(['status', 'CoreSyncTarget/core-d', '-o', 'json']).stdout).status;
      return String(status.lastError ?? '').includes('internal address') && status;
    }, 30_000);
    expect(refused.lastError).toContain('127.0.0.1 is an internal address');
    expect(refused.lastError).toContain('--allow-internal-targets');
    expect(receiver.held()).toEqual([]);
    await serving.stop();

    serving = await startMdmops('serve', source.dir, ['--interval', '1s', '--allow-internal-targets'], SENDER_ENV, '127.0.0.1', { wrap: IN_NAMESPACE });
    await eventually('the target holds the configuration', () => receiver.held().join() === 'Space/emea' || undefined, 30_000);
  });
});

describe('CoreSyncFailing', () => {
  const receiver = receivingCore();
  const source = workspace();
  const send = sender(source);
  const status = () => JSON.parse(send(['status', 'CoreSyncTarget/core-d', '-o', 'json']).stdout).status;
  beforeAll(async () => {
    await receiver.setUp('failing-server');
    await receiver.start();
  });

  it('is raised by the fifth failure in a row, and cleared by a success', async () => {
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(send(['sync', 'CoreSyncTarget/core-d']).code).toBe(0);
    await receiver.stop();
    for (let i = 1; i <= 5; i++) {
      const synced = send(['sync', 'CoreSyncTarget/core-d']);
      expect(synced.code).toBe(1);
      expect(synced.stderr).toContain(`core server ${FQDN}:${receiver.port}: connect ECONNREFUSED`);
      expect(status()).toMatchObject({ consecutiveFailures: i, lastSyncResult: 'Failed' });
      if (i < 5) expect(notices(send)).not.toContain('CoreSyncFailing');
    }
    const raised = JSON.parse(send(['notifications', '-o', 'json']).stdout).find((n: { reason: string }) => n.reason === 'CoreSyncFailing');
    expect(raised).toMatchObject({ kind: 'CoreSyncTarget', name: 'core-d', severity: 'Error' });
    expect(raised.message).toContain('5 syncs in a row failed; the last: core server');

    await receiver.start();
    const synced = send(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain('Unchanged');
    expect(notices(send)).not.toContain('CoreSyncFailing');
    expect(status()).toMatchObject({ consecutiveFailures: 0, lastSyncResult: 'Unchanged' });
  });
});

describe('an older generation', () => {
  const receiver = receivingCore();
  const source = workspace();
  const stale = workspace();
  const send = sender(source);
  const sendStale = sender(stale);
  beforeAll(async () => {
    await receiver.setUp('generation-server');
    await receiver.start();
  });

  it('is refused by the target (409), which keeps what it holds', () => {
    // Two stores of the same core name (the host's) and tenant: one moves on, the other stays behind.
    stale.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['stale']));
    expect(sendStale(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    for (const spaces of [['emea'], ['emea', 'americas'], ['emea', 'americas', 'apac']]) {
      source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), spaces));
      expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
      const synced = send(['sync', 'CoreSyncTarget/core-d']);
      expect(synced.code, synced.stderr).toBe(0);
    }
    expect(receiver.received().map((e) => e.generation)).toEqual([3, 2, 1]);

    const refused = sendStale(['sync', 'CoreSyncTarget/core-d']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${FQDN}:${receiver.port} refused the bundle: generation 1 is older than generation 3, applied already`);
    expect(notices(sendStale)).toContain('CoreSyncRefused');
    expect(JSON.parse(sendStale(['core-sync', 'log', 'CoreSyncTarget/core-d', '-o', 'json']).stdout)[0]).toMatchObject({ result: 'Refused', generation: 1 });
    expect(receiver.held()).toEqual(['Space/americas', 'Space/apac', 'Space/emea']);
    expect(receiver.received().map((e) => e.generation)).toEqual([3, 2, 1]);
  });

  it('is not what a target deleted and made again on the sending core sends: the tenant\'s generation goes on from where it was', () => {
    source.write('config/tenant.yaml', ['emea', 'americas', 'apac'].map(space).join(''));
    const removed = send(['apply', '-f', 'config', '--auto-approve']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('1 deleted');
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas', 'apac', 'oceania']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain('applied generation 4 (4 items)');
    expect(receiver.held()).toEqual(['Space/americas', 'Space/apac', 'Space/emea', 'Space/oceania']);
  });

  it('is taken once the target forgets what it applied from that core, as after a restore from a backup', () => {
    stale.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea', 'americas', 'apac', 'oceania', 'stale']));
    expect(sendStale(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const refused = sendStale(['sync', 'CoreSyncTarget/core-d']);
    expect(refused.code).toBe(1);
    const from = receiver.received()[0]!.from.replace(/ \(default\)$/, '');
    expect(refused.stderr).toContain(`generation 2 is older than generation 4, applied already (a store restored from a backup? then run on this core: mdmops core-sync forget ${from} --from default)`);

    const forgot = receiver.ws.run(['core-sync', 'forget', from]);
    expect(forgot.code, forgot.stderr).toBe(0);
    expect(forgot.stdout).toContain(`forgot generation 4 from core ${from} (tenant default)`);
    const taken = sendStale(['sync', 'CoreSyncTarget/core-d']);
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stdout).toContain('applied generation 2 (5 items)');
    expect(receiver.held()).toEqual(['Space/americas', 'Space/apac', 'Space/emea', 'Space/oceania', 'Space/stale']);

    const again = receiver.ws.run(['core-sync', 'forget', 'no-such-core']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('tenant default has applied nothing from core no-such-core (tenant default)');
  });
});

describe('a bundle the target cannot take', () => {
  const receiver = receivingCore();
  const source = workspace();
  const send = sender(source);
  beforeAll(async () => {
    await receiver.setUp('invalid-bundle-server');
    await receiver.start();
  });

  it("is refused whole, and the sender is told why: here a reference to a connector of the sender's site", () => {
    // Connectors are site-specific: never sent. The LDAP source needs one of the same name at the target.
    const ldap = doc('LdapSource', 'corp', 'connectorRef: { name: paris-dc }\nurl: ldaps://dc.corp.example\nbindDn: cn=sync,dc=corp,dc=example\nbindPasswordSecretRef: { name: ldap, key: password }\nbaseDn: dc=corp,dc=example');
    source.write('config/tenant.yaml', doc('Connector', 'paris-dc', 'hosting: OnPremises') + ldap + configuration(receiver.port, fingerprint(receiver.cert), ['emea']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const refused = send(['sync', 'CoreSyncTarget/core-d']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${FQDN}:${receiver.port} refused the bundle: nothing was applied: core-sync from `);
    expect(refused.stderr).toMatch(/LdapSource\/corp.*paris-dc/);
    expect(receiver.held()).toEqual([]);

    // The target's own connector of that name: the same bundle is taken.
    receiver.ws.write('site/connector.yaml', doc('Connector', 'paris-dc', 'hosting: OnPremises'));
    expect(receiver.ws.run(['apply', '-f', 'site', '--auto-approve']).code).toBe(0);
    const taken = send(['sync', 'CoreSyncTarget/core-d']);
    expect(taken.code, taken.stderr).toBe(0);
    expect(receiver.held()).toEqual(['Connector/paris-dc', 'LdapSource/corp', 'Space/emea']);
  });
});

describe('the core name', () => {
  const receiver = receivingCore();
  const source = workspace();
  beforeAll(async () => {
    await receiver.setUp('core-name-server');
    await receiver.start();
  });

  it("is the host's fully qualified name by default, as hostname -f finds it", () => {
    // A host named core-a whose /etc/hosts line gives its full name, as Debian writes it: a UTS and
    // mount namespace of its own.
    const named = join(dir, 'hosts-core-a');
    writeFileSync(named, `127.0.0.1 localhost\n127.0.0.1 ${FQDN}\n127.0.1.1 core-a.branch.mdmops-test.example core-a\n`);
    const run = (args: string[]) => {
      const r = spawnSync('unshare', ['--uts', '--mount', 'sh', '-c', 'hostname core-a && mount --bind "$0" /etc/hosts && exec "$@"', named, NODE, BIN_PATH, ...args], { cwd: source.dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...SENDER_ENV } });
      return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    };
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), ['emea']));
    expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = run(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(receiver.received()[0]).toMatchObject({ from: 'core-a.branch.mdmops-test.example (default)', result: 'applied' });
  });
});

describe('the target killed mid-sync', () => {
  const SPACES = Number(process.env.CORE_SYNC_KILL_SPACES ?? 4000);
  const receiver = receivingCore();
  const source = workspace();
  const send = sender(source);
  const sendAsync = senderAsync(source);
  const names = Array.from({ length: SPACES }, (_, i) => `space-${String(i).padStart(5, '0')}`);
  beforeAll(async () => {
    await receiver.setUp('killed-server');
    await receiver.start();
  });

  it('converges once restarted: the next sync applies what the killed one left undone', async () => {
    source.write('config/tenant.yaml', configuration(receiver.port, fingerprint(receiver.cert), names));
    const applied = send(['apply', '-f', 'config', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);

    const sync = sendAsync(['sync', 'CoreSyncTarget/core-d']);
    // Killed once the target has begun to apply: some of the bundle's resources are in its store. It
    // is watched in its SQLite file, from outside (the target answers its status API only between
    // its applies' writes, and a CLI command takes longer than the applying does).
    const begun = await spacesWritten(join(receiver.ws.dir, '.mdmops', 'tenant.db'), 60_000);
    await receiver.stop('SIGKILL');
    const failed = await sync;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(`core server ${FQDN}:${receiver.port}: socket hang up`);
    const partial = receiver.held();
    expect(begun).toBeLessThan(SPACES);
    expect(partial.length).toBeGreaterThanOrEqual(begun);
    expect(partial.length).toBeLessThan(SPACES);
    // Nothing says it was received: what it holds of the bundle is not taken for the bundle.
    expect(receiver.received()).toEqual([]);

    await receiver.start();
    const synced = send(['sync', 'CoreSyncTarget/core-d']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`applied generation 1 (${SPACES} items)`);
    expect(receiver.held()).toEqual(names.map((n) => `Space/${n}`));
    expect(receiver.received()).toMatchObject([{ result: 'applied', generation: 1 }]);
    const again = send(['sync', 'CoreSyncTarget/core-d']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Unchanged');
  }, 240_000);
});

/** Waits, polling the store's file every few ms, until it holds a Space; their number then. */
async function spacesWritten(file: string, limitMs: number): Promise<number> {
  const deadline = Date.now() + limitMs;
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const count = db.prepare("SELECT count(*) AS n FROM records WHERE kind = 'Space'").pluck();
    for (;;) {
      const n = Number(count.get());
      if (n > 0) return n;
      if (Date.now() > deadline) throw new Error(`no Space written to ${file} within ${limitMs / 1000} s`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    db.close();
  }
}
