// A CoreSyncTarget's pin, checked on a real TLS handshake with a real TLS server (openssl s_server):
// untrusted until the presented certificate's fingerprint is committed, trusted once it is, and
// blocked when the peer's certificate changes until the new pin is committed. mdmops resolves the
// target's name through a hosts file of its own (a mount namespace the test makes), as a real FQDN.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN_PATH, NODE } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';
import { issueCert, makeCa } from './servers/certs.js';
import { freePort } from './servers/ports.js';
import { spawnServer, type ServerProcess } from './servers/process.js';

const FQDN = 'core.mdmops-test.example';

describe('CoreSyncTarget trust', () => {
  const ws = workspace();
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-core-pin-'));
  let server: ServerProcess | undefined;
  afterAll(() => {
    server?.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${FQDN}\n`);

  /** mdmops with FQDN resolving to this machine: /etc/hosts replaced in a mount namespace of its own. */
  const run = (args: string[]) => {
    const r = spawnSync('unshare', ['--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts, NODE, BIN_PATH, ...args], {
      cwd: ws.dir,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1', MDMOPS_SECRET_CORE__PASSWORD: 'pw' },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const serve = async (port: number, name: string) => {
    if (server) {
      server.release();
      server.child.kill('SIGKILL');
      await server.exited;
    }
    const ca = await makeCa(dir, `${name}-ca`, `${name} CA`);
    const leaf = await issueCert(dir, ca, name, { subject: `/CN=${FQDN}`, usage: 'serverAuth', san: `DNS:${FQDN}` });
    server = spawnServer('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', leaf.cert, '-key', leaf.key, '-www', '-quiet'], dir, 'SIGKILL');
    await listening(port);
    return new X509Certificate(readFileSync(leaf.cert)).fingerprint256.replace(/:/g, '').toLowerCase();
  };
  const target = (port: number, pin?: string) =>
    doc('CoreSyncTarget', 'peer', `fqdn: ${FQDN}\nport: ${port}\ncredentials: { username: svc, passwordSecretRef: { name: core, key: password } }${pin ? `\ntrust: { certificateSha256: "${pin}" }` : ''}`);
  const status = () => JSON.parse(run(['status', 'CoreSyncTarget/peer', '-o', 'json']).stdout).status;
  const ready = () => status().conditions.find((c: { type: string }) => c.type === 'Ready');

  it('shows the presented fingerprint while untrusted, trusts the pinned one, and blocks a changed certificate until it is pinned', async () => {
    const port = await freePort();
    const first = await serve(port, 'first');

    ws.write('config/a.yaml', target(port));
    const applied = run(['apply', '-f', 'config', '--auto-approve']);
    expect(applied.code, applied.stderr).toBe(0);
    expect(ready()).toMatchObject({ status: 'False', reason: 'Untrusted' });
    expect(ready().message).toContain(`SHA-256 ${first}`);
    expect(status()).toMatchObject({ presentedCertificateSha256: first, trusted: false });

    // The reviewed fingerprint, committed (written as a tool prints it: upper case with colons).
    ws.write('config/a.yaml', target(port, first.toUpperCase().match(/../g)!.join(':')));
    expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(ready()).toMatchObject({ status: 'True', reason: 'Trusted' });
    expect(status().trusted).toBe(true);

    // The peer's certificate changes: blocked, said as an error, until the new one is pinned.
    const second = await serve(port, 'second');
    expect(second).not.toBe(first);
    expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(ready()).toMatchObject({ status: 'False', reason: 'CertificateChanged' });
    expect(ready().message).toContain(`presents a certificate with SHA-256 ${second}, not the pinned ${first}`);
    expect(status()).toMatchObject({ presentedCertificateSha256: second, trusted: false });
    expect(run(['notifications']).stdout).toMatch(/CoreSyncTarget\/peer\s+CoreCertificateChanged/);

    ws.write('config/a.yaml', target(port, second));
    expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(ready()).toMatchObject({ status: 'True', reason: 'Trusted' });
    expect(run(['notifications']).stdout).not.toContain('CoreCertificateChanged');
  });
});

/** Until the port accepts a connection. */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}
