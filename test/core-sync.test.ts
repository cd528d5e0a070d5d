// Core sync between two real mdmops cores, each with its own store, through the CLI: the target a
// `mdmops serve` with a core-sync endpoint on an openssl-made certificate for a fully qualified
// name, which the sending side resolves through a hosts file of its own (a mount namespace), as a
// real FQDN. Untrusted, pinned, unchanged, certificate swapped and back, re-pinned, wrong
// password, read-only on the target, pruned at the target.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCert, makeCa, type CertFiles } from './servers/certs.js';
import { freePort } from './servers/ports.js';
import { BIN_PATH, NODE } from './support/cli.js';
import { eventually } from './support/controller.js';
import { startMdmops, type RunningMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const FQDN = 'core-b.mdmops-test.example';
const PASSWORD = 'a-long-enough-sync-password';

describe('core sync between two cores', () => {
  const source = workspace();
  const target = workspace();
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-core-sync-'));
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${FQDN}\n`);
  let port: number;
  let receiver: RunningMdmops | undefined;
  let certs: { first: CertFiles; second: CertFiles };
  afterAll(async () => {
    await receiver?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** mdmops on the sending core, FQDN resolving to this machine through its own /etc/hosts. */
  const send = (args: string[]) => {
    const r = spawnSync('unshare', ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, NODE, BIN_PATH, ...args], {
      cwd: source.dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', MDMOPS_SECRET_CORE_B__PASSWORD: PASSWORD },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const fingerprint = (c: CertFiles) => new X509Certificate(readFileSync(c.cert)).fingerprint256.replace(/:/g, '').toLowerCase();
  const startReceiver = async (c: CertFiles) => {
    await receiver?.stop();
    receiver = await startMdmops('serve', target.dir, ['--core-sync-listen', `127.0.0.1:${port}`, '--core-sync-cert', c.cert, '--core-sync-key', c.key, '--core-name', 'core-b', '--interval', '1h']);
    await receiver.waitFor('the core-sync endpoint', () => receiver!.output().includes('core sync listening'));
  };
  const configuration = (pin?: string, spaces = ['emea', 'americas']) =>
    spaces.map((s, i) => doc('Space', s, `displayName: ${s.toUpperCase()}\npriority: ${i + 1}\nmembers: { groups: [${s}] }\nadmins: { groups: [${s}-admins] }`)).join('') +
    doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Contoso Root }\nkeyAlgorithm: ECDSA-P256') +
    doc('CoreSyncTarget', 'core-b', `fqdn: ${FQDN}\nport: ${port}\ncredentials: { username: sync, passwordSecretRef: { name: core-b, key: password } }${pin ? `\ntrust: { certificateSha256: "${pin}" }` : ''}`);
  const targetStatus = () => JSON.parse(send(['status', 'CoreSyncTarget/core-b', '-o', 'json']).stdout).status;
  const received = () => JSON.parse(target.run(['status', '-o', 'json']).stdout).items.map((r: { kind: string; metadata: { name: string } }) => `${r.kind}/${r.metadata.name}`).sort();
  const log = () => JSON.parse(send(['core-sync', 'log', 'CoreSyncTarget/core-b', '-o', 'json']).stdout);

  beforeAll(async () => {
    port = await freePort();
    const first = await issueCert(dir, await makeCa(dir, 'first-ca', 'First CA'), 'first', { subject: `/CN=${FQDN}`, usage: 'serverAuth', san: `DNS:${FQDN}` });
    const second = await issueCert(dir, await makeCa(dir, 'second-ca', 'Second CA'), 'second', { subject: `/CN=${FQDN}`, usage: 'serverAuth', san: `DNS:${FQDN}` });
    certs = { first, second };
    writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);
    const account = target.run(['core-sync', 'account', 'add', 'sync', '--password-file', join(dir, 'password')]);
    expect(account.code, account.stderr).toBe(0);
    await startReceiver(first);
  });

  it('sends nothing to an untrusted target, and shows what it presents as openssl does', () => {
    source.write('config/tenant.yaml', configuration());
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-b']);
    expect(synced.code).toBe(1);
    expect(synced.stderr).toContain('is not trusted: nothing is sent');
    const openssl = spawnSync('openssl', ['x509', '-in', certs.first.cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' }).stdout.trim();
    const expected = openssl.split('=')[1]!.replace(/:/g, '').toLowerCase();
    expect(targetStatus()).toMatchObject({ trusted: false, presentedCertificateSha256: expected, presentedCertificate: { subject: `CN=${FQDN}` } });
    const trust = send(['core-sync', 'trust', 'CoreSyncTarget/core-b']);
    expect(trust.code, trust.stderr).toBe(0);
    expect(trust.stdout).toBe(`trust:\n  certificateSha256: ${expected}\n`);
    expect(received()).toEqual([]);
  });

  it('sends the configuration once pinned; the target holds it, and a second sync is a small no-op', () => {
    source.write('config/tenant.yaml', configuration(fingerprint(certs.first)));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-b']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain('Applied');
    // Everything but the site-specific kinds, owned by the sending core's source.
    expect(received()).toEqual(['CertificateAuthority/root', 'Space/americas', 'Space/emea']);
    // The same YAML planned on the target, from the source it arrived by: nothing to do.
    target.write('same/tenant.yaml', configuration().split('---\n').filter((d) => !d.includes('CoreSyncTarget')).join('---\n'));
    const plan = target.run(['plan', '-f', 'same', '--source', `core:${hostnameOf()}/default`]);
    expect(plan.stdout + plan.stderr).toContain('No changes');

    const again = send(['sync', 'CoreSyncTarget/core-b']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Unchanged');
    const entries = log();
    expect(entries[0]).toMatchObject({ result: 'Unchanged', certificateSha256: fingerprint(certs.first) });
    expect(entries[0].bytes).toBeLessThan(1024);
    expect(entries[1]).toMatchObject({ result: 'Applied', items: 3 });
    const receivedLog = JSON.parse(target.run(['core-sync', 'log', '--received', '-o', 'json']).stdout);
    expect(receivedLog).toHaveLength(1);
  });

  it('refuses on the target a local change to an item it received', () => {
    target.write('local/space.yaml', doc('Space', 'emea', 'displayName: Local\npriority: 9\nmembers: { groups: [x] }\nadmins: { groups: [y] }'));
    const local = target.run(['apply', '-f', 'local', '--auto-approve']);
    expect(local.code).toBe(1);
    expect(local.stdout + local.stderr).toContain(`Space/emea is managed by source "core:${hostnameOf()}/default"`);
  });

  it('blocks a target whose certificate changed, sends it nothing, and stays blocked until a new pin', async () => {
    await startReceiver(certs.second);
    const before = receiver!.output();
    source.write('config/tenant.yaml', configuration(fingerprint(certs.first), ['emea', 'americas', 'apac']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    // The apply's look at the target saw the change already: the pin is dropped.
    expect(targetStatus()).toMatchObject({ droppedCertificateSha256: fingerprint(certs.first), presentedCertificateSha256: fingerprint(certs.second), trusted: false });
    const blocked = send(['sync', 'CoreSyncTarget/core-b']);
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`is blocked: it presented another certificate than the pinned ${fingerprint(certs.first)}, which was dropped`);
    expect(send(['notifications']).stdout).toContain('CoreCertificateChanged');
    // Not a byte reached the target's handler: no push logged there, nothing new received.
    expect(receiver!.output()).toBe(before);
    expect(received()).not.toContain('Space/apac');

    // The old certificate back: still blocked.
    await startReceiver(certs.first);
    const still = send(['sync', 'CoreSyncTarget/core-b']);
    expect(still.code).toBe(1);
    expect(still.stderr).toContain('is blocked');
    expect(received()).not.toContain('Space/apac');

    // A new pin, reviewed and committed: sync resumes.
    source.write('config/tenant.yaml', configuration(fingerprint(certs.first).toUpperCase().match(/../g)!.join(':'), ['emea', 'americas', 'apac']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    // The same fingerprint re-committed is the dropped pin: still blocked.
    expect(send(['sync', 'CoreSyncTarget/core-b']).code).toBe(1);
    await startReceiver(certs.second);
    source.write('config/tenant.yaml', configuration(fingerprint(certs.second), ['emea', 'americas', 'apac']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const resumed = send(['sync', 'CoreSyncTarget/core-b']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(received()).toContain('Space/apac');
    expect(send(['notifications']).stdout).not.toMatch(/CoreCertificateChanged\s.*True/);
  });

  it('prunes at the target what the source removed', () => {
    source.write('config/tenant.yaml', configuration(fingerprint(certs.second), ['emea', 'apac']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-b']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(received()).toEqual(['CertificateAuthority/root', 'Space/apac', 'Space/emea']);
  });

  it("keeps the target's own item of the same name, and says so", () => {
    target.write('own/lyon.yaml', doc('Space', 'lyon', 'displayName: Lyon, kept\npriority: 20\nmembers: { groups: [lyon] }\nadmins: { groups: [lyon-admins] }'));
    expect(target.run(['apply', '-f', 'own', '--auto-approve']).code).toBe(0);
    source.write('config/tenant.yaml', configuration(fingerprint(certs.second), ['emea', 'apac', 'lyon']));
    expect(send(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const synced = send(['sync', 'CoreSyncTarget/core-b']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain('Space/lyon (this core\'s, from source "default") is kept as the target\'s own');
    expect(JSON.parse(target.run(['status', 'Space/lyon', '-o', 'json']).stdout).spec.displayName).toBe('Lyon, kept');
  });

  it('says when the account is refused', async () => {
    const wrong = spawnSync('unshare', ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, NODE, BIN_PATH, 'sync', 'CoreSyncTarget/core-b'], {
      cwd: source.dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', MDMOPS_SECRET_CORE_B__PASSWORD: 'not-the-password' },
    });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('refused the account (401)');
    expect(send(['notifications']).stdout).toContain('CoreSyncAuthFailed');
    await eventually('the refusal in the target\'s log', () => receiver!.output().includes('a push with wrong credentials was refused') || undefined, 10_000);
    expect(receiver!.output()).not.toContain('not-the-password');
    expect(receiver!.output()).not.toContain(PASSWORD);
  });
});

/** The sending core's name: mdmops's default, the host's name. */
function hostnameOf(): string {
  return spawnSync('hostname', { encoding: 'utf8' }).stdout.trim();
}
