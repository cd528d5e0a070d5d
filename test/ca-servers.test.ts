// CAs that are servers (SCEP, ACME, non-SCEP by mutual TLS), an externally signed intermediate and
// uploaded certificates, through the CLI against real servers.
import { execFileSync } from 'node:child_process';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPebble, type PebbleServer } from './servers/pebble.js';
import { freePort } from './servers/ports.js';
import { startScep, type ScepServer } from './servers/scep.js';
import { putUsers } from './support/seed.js';
import { startRun } from './support/run.js';
import { eventually } from './support/controller.js';
import { connectedAgent, gatewayInRun, type ConnectedAgent } from './support/agent.js';
import { doc, workspace, type Workspace } from './support/workspace.js';

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const status = (ws: Workspace, resource: string) => JSON.parse(ws.run(['status', resource, '-o', 'json']).stdout).status;
const exportPem = (ws: Workspace, config: string, user: string) => {
  const out = ws.run(['certificates', config, '--export', user, '--out', `${user}.p12`], { MDMOPS_EXPORT_PASSWORD: 'pw' });
  expect(out.code, out.stderr).toBe(0);
  return ws.write(`${user}.pem`, openssl('pkcs12', '-in', join(ws.dir, `${user}.p12`), '-passin', 'pass:pw', '-clcerts', '-nokeys'));
};
const probe = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
const connector = doc('Connector', 'dc', 'hosting: OnPremises');
const users = [
  { id: 'u1', upn: 'alice@contoso.com', email: 'alice@contoso.com', attributes: { host: 'alice-laptop.contoso.test' } },
  { id: 'u2', upn: 'bob@contoso.com', email: 'bob@contoso.com', attributes: { host: 'bob-phone.contoso.test' } },
];

describe('SCEP CA (Debian scepserver)', () => {
  let scep: ScepServer;
  beforeAll(async () => {
    scep = await startScep();
  });
  afterAll(() => scep?.stop());
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_SCEP__CHALLENGE: scep.challenge });
  const ca = (pin: string) => doc('CertificateAuthority', 'scep', `type: ScepOnPremises\nurl: ${scep.url}\nconnectorRef: { name: dc }\nchallengeSecretRef: { name: scep, key: challenge }\ncaFingerprint: "${pin}"`);
  const wifi = doc('CertificateConfiguration', 'wifi', 'identity:\n  certificateAuthorityRef: { name: scep }\n  subject: CN=${userUPN},O=Contoso\n  subjectAltNames: [{ type: Email, value: "${userEmailAddress}" }]\ndistribution: { devices: AllDevices }');

  let tunnel: ConnectedAgent;

  it('waits for the connector, then checks the CA against its pin and enrolls each user', async () => {
    ws.write('config/scep.yaml', connector + ca(scep.caFingerprint) + wifi);
    const first = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('CertificateAuthority/scep: ConnectorNotReady');
    tunnel = await connectedAgent(ws);
    await putUsers(ws.dir, users);
    const second = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(second.code, second.stderr + second.stdout).toBe(0);
    const s = status(ws, 'CertificateAuthority/scep');
    expect(s.fingerprintSha256).toBe(scep.caFingerprint);
    expect(s.capabilities).toContain('POSTPKIOperation');
    expect(status(ws, 'CertificateConfiguration/wifi')).toMatchObject({ issuedCount: 2, waitingCount: 0 });
    const leaf = exportPem(ws, 'wifi', 'alice@contoso.com');
    expect(openssl('verify', '-CAfile', ws.write('scep-ca.pem', scep.caPem), leaf)).toContain('OK');
    expect(openssl('x509', '-in', leaf, '-noout', '-subject')).toContain('CN = alice@contoso.com');
    // The challenge is a secret: never shown.
    expect(second.stdout + second.stderr + ws.run(['status', 'CertificateAuthority/scep', '-o', 'yaml']).stdout).not.toContain(scep.challenge);
  });

  it('enrols through the tunnel that mdmops run holds itself, as the controller does', async () => {
    await putUsers(ws.dir, [{ id: 'u3', upn: 'carol@contoso.com', email: 'carol@contoso.com', attributes: {} }]);
    const { run, back } = await gatewayInRun(ws, tunnel, ['--watch', 'config', '--interval', '1s', '--debounce', '200ms'], env());
    try {
      await run.waitFor('carol enrolled by mdmops run', () => status(ws, 'CertificateConfiguration/wifi').issuedCount === 3, 120_000);
      expect(run.output()).not.toContain('PKIOperation: HTTP 400');
      expect(openssl('verify', '-CAfile', join(ws.dir, 'scep-ca.pem'), exportPem(ws, 'wifi', 'carol@contoso.com'))).toContain('OK');
    } finally {
      expect(await back()).toBe(0);
    }
  }, 240_000); // two gateway changes, each waited out by the agent's backoff, and run's look again at what waits

  it('refuses a CA whose certificate does not match the pin', () => {
    ws.write('config/scep.yaml', connector + ca('ab'.repeat(32)) + wifi);
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(out.stdout).toContain('CertificateAuthority/scep: CAFingerprintMismatch');
    expect(ws.run(['notifications']).stdout).toContain('not the pinned caFingerprint');
  });

  it('without caFingerprint trusts the CA first seen, says so in the plan, and refuses another until it is pinned', async () => {
    const unpinned = (url: string) => doc('CertificateAuthority', 'scep', `type: ScepOnPremises\nurl: ${url}\nconnectorRef: { name: dc }\nchallengeSecretRef: { name: scep, key: challenge }`);
    ws.write('config/scep.yaml', connector + unpinned(scep.url) + wifi);
    const first = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('no caFingerprint: the SCEP CA certificate first seen is trusted from then on (trust on first use)');
    expect(status(ws, 'CertificateAuthority/scep').trustedOnFirstUse).toBe(scep.caFingerprint);

    // Another CA answers at the CA's address (here: the URL moved to another server with its own CA).
    const other = await startScep();
    try {
      ws.write('config/scep.yaml', connector + unpinned(other.url) + wifi);
      const refused = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
      expect(refused.stdout).toContain('CertificateAuthority/scep: CAFingerprintMismatch');
      expect(ws.run(['notifications']).stdout).toContain(`not the one first seen and trusted (${scep.caFingerprint}; no caFingerprint is set)`);
      // Committing the new CA's fingerprint is the reviewed decision that lets it in.
      ws.write('config/scep.yaml', connector + ca(other.caFingerprint).replace(scep.url, other.url) + wifi);
      ws.run(['apply', '-f', 'config', '--auto-approve'], env());
      expect(status(ws, 'CertificateAuthority/scep').conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'CAServerReady' });
    } finally {
      await other.stop();
    }
  });

  it('says so when the server cannot be reached', async () => {
    ws.write('config/scep.yaml', connector + ca(scep.caFingerprint) + wifi);
    await scep.stop();
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(out.stdout).toContain('CertificateAuthority/scep: CAServerUnreachable');
    expect(ws.run(['notifications']).stdout).toMatch(/CertificateAuthority\/scep\s+CAServerUnreachable/);
  });
});

describe('PublicCloud CA over ACME (Pebble)', () => {
  let pebble: PebbleServer;
  const ws = workspace();
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    pebble = await startPebble({ eabRequired: true });
    env = { NODE_EXTRA_CA_CERTS: ws.write('pebble-tls.pem', pebble.caPem), MDMOPS_ACME_HTTP01_PORT: String(pebble.http01Port), MDMOPS_SECRET_ACME__HMAC: pebble.eab.hmacKey, MDMOPS_SECRET_ENTRA__SECRET: 'x' };
  });
  afterAll(() => pebble?.stop());

  it('registers the account with its external binding and orders a certificate per user, validated over http-01', async () => {
    const source = doc('EntraIdSource', 'entra', 'displayName: Entra\ntenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nclientSecretRef: { name: entra, key: secret }\nenabled: false\ncustomAttributes: [{ name: host }]');
    const ca = doc('CertificateAuthority', 'acme', `type: PublicCloud\ndirectoryUrl: ${pebble.directoryUrl}\nemail: pki@contoso.com\ntermsOfServiceAgreed: true\nexternalAccountBinding: { keyId: ${pebble.eab.keyId}, hmacKeySecretRef: { name: acme, key: hmac } }`);
    const web = doc('CertificateConfiguration', 'web', 'identity:\n  certificateAuthorityRef: { name: acme }\n  subject: CN=${host}\n  subjectAltNames: [{ type: DNS, value: "${host}" }]\n  keyAlgorithm: ECDSA-P256\ndistribution: { devices: AllDevices }');
    ws.write('config/acme.yaml', source + ca + web);
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env).code).toBe(0);
    expect(status(ws, 'CertificateAuthority/acme').accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
    await putUsers(ws.dir, users);
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], env);
    expect(out.code, out.stderr + out.stdout).toBe(0);
    expect(status(ws, 'CertificateConfiguration/web'), out.stdout).toMatchObject({ issuedCount: 2, waitingCount: 0 });
    const leaf = exportPem(ws, 'web', 'bob@contoso.com');
    const roots = (await pebble.rootPem()).match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g)!;
    // The intermediate came with the certificate and is in the export.
    const above = ws.write('acme-chain.pem', openssl('pkcs12', '-in', join(ws.dir, 'bob@contoso.com.p12'), '-passin', 'pass:pw', '-cacerts', '-nokeys'));
    expect(openssl('verify', '-CAfile', ws.write('pebble-root.pem', roots[0]!), '-untrusted', above, leaf)).toContain('OK');
    expect(openssl('x509', '-in', leaf, '-noout', '-ext', 'subjectAltName')).toContain('DNS:bob-phone.contoso.test');
    expect(out.stdout + out.stderr).not.toContain(pebble.eab.hmacKey);
  });

  it('is not tried again by mdmops run while the spec that the CA refused is unchanged (a terminal failure)', async () => {
    const at = workspace();
    const ca = (binding: string) => doc('CertificateAuthority', 'public', `type: PublicCloud\ndirectoryUrl: ${pebble.directoryUrl}\nemail: pki@contoso.com\ntermsOfServiceAgreed: true${binding}`);
    at.write('config/ca.yaml', ca(''));
    const run = await startRun(at.dir, ['--watch', 'config', '--interval', '1s', '--debounce', '200ms'], env);
    const failures = () => run.output().split('\n').filter((l) => l.includes('CertificateAuthority/public: failed')).length;
    const rounds = async () => Number((await run.metrics()).match(/mdmops_sync_rounds_total\{trigger="interval"\} (\d+)/)?.[1] ?? 0);
    await eventually('three more rounds', async () => (await rounds()) >= 3);
    expect(failures()).toBe(1);
    expect(at.run(['notifications', '-o', 'json']).stdout).toContain('AccountRejected');

    at.write('config/ca.yaml', ca(`\nexternalAccountBinding: { keyId: ${pebble.eab.keyId}, hmacKeySecretRef: { name: acme, key: hmac } }`));
    await run.waitFor('the CA Ready once its binding is given', (s) => s.resources?.find((r: { resource: string; ready: string }) => r.resource === 'CertificateAuthority/public' && r.ready === 'True'));
    expect(await run.stop()).toBe(0);
  });
});

describe('NonScepOnPremises CA by mutual TLS', () => {
  const ws = workspace();
  const dir = ws.dir;
  const path = (f: string) => join(dir, f);
  let port: number;
  let server: ChildProcess;
  beforeAll(async () => {
    ws.write('config/.keep', '');
    // A server CA and a client CA, as OpenTrust hands them out; the server asks for a client certificate.
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('tls-ca.key'), '-out', path('config/tls-ca.pem'), '-subj', '/CN=TLS CA', '-days', '30');
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=localhost');
    ws.write('san.ext', 'subjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', path('server.csr'), '-CA', path('config/tls-ca.pem'), '-CAkey', path('tls-ca.key'), '-out', path('server.pem'), '-days', '30', '-extfile', path('san.ext'));
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('client.key'), '-out', path('client.pem'), '-subj', '/CN=mdm-client', '-days', '30');
    openssl('pkcs12', '-export', '-inkey', path('client.key'), '-in', path('client.pem'), '-out', path('config/auth.p12'), '-passout', 'pass:p12-pässword');
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('other.key'), '-out', path('other.pem'), '-subj', '/CN=stranger', '-days', '30');
    openssl('pkcs12', '-export', '-inkey', path('other.key'), '-in', path('other.pem'), '-out', path('config/other.p12'), '-passout', 'pass:p12-pässword');
    // In its own process: the CLI runs synchronously from here and would starve an in-process server.
    port = await freePort();
    server = spawn('openssl', ['s_server', '-accept', `127.0.0.1:${port}`, '-cert', path('server.pem'), '-key', path('server.key'), '-CAfile', path('client.pem'), '-Verify', '1', '-verify_return_error', '-www', '-quiet'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await probe(port)); i++) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(() => {
    server?.kill();
  });
  const ca = (p12: string) => doc('CertificateAuthority', 'opentrust', `type: NonScepOnPremises\nurl: https://127.0.0.1:${port}/\npasswordSecretRef: { name: opentrust, key: password }\nauthenticationCertificate: { file: ${p12} }\ntlsCaChain: { file: tls-ca.pem }`);

  it('opens the authentication certificate and is accepted by the CA', () => {
    ws.write('config/ca.yaml', ca('auth.p12'));
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_OPENTRUST__PASSWORD: 'p12-pässword' });
    expect(out.code, out.stderr).toBe(0);
    const s = status(ws, 'CertificateAuthority/opentrust');
    expect(s.authentication.subject).toBe('CN=mdm-client');
    expect(s.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'CAServerReady' });
  });

  it('says the password is wrong without showing it', () => {
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_OPENTRUST__PASSWORD: 'not-the-pässword' });
    expect(out.stdout).toContain('CertificateAuthority/opentrust: AuthenticationCertificateInvalid');
    const notes = ws.run(['notifications']).stdout;
    expect(notes).toContain('cannot open spec.authenticationCertificate (auth.p12): wrong password');
    expect(out.stdout + out.stderr + notes).not.toContain('not-the-pässword');
  });

  it('reports a certificate the CA does not accept', () => {
    ws.write('config/ca.yaml', ca('other.p12'));
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_OPENTRUST__PASSWORD: 'p12-pässword' });
    expect(out.stdout).toContain('CertificateAuthority/opentrust: CAServerUnreachable');
    expect(ws.run(['notifications']).stdout).toContain('TLS handshake failed');
  });
});

describe('Intermediate CA signed by your own CA', () => {
  const ws = workspace();
  const path = (f: string) => join(ws.dir, f);
  const inter = (signed = '') => doc('CertificateAuthority', 'issuing', `type: Intermediate\nsubject: { commonName: Contoso Issuing, organization: Contoso }\nexternalSigner:${signed || ' {}'}`);
  const sign = (csr: string, out: string, ext: string, key = 'root') =>
    openssl('x509', '-req', '-in', csr, '-CA', path(`${key}.pem`), '-CAkey', path(`${key}.key`), '-out', path(out), '-days', '365', '-extfile', ws.write(`${out}.ext`, ext));

  it('publishes a CSR, then takes the signed certificate once it matches the key, is a CA and chains up', () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('root.key'), '-out', path('root.pem'), '-subj', '/CN=Customer Root', '-days', '365', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    ws.write('config/ca.yaml', inter());
    const first = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(first.stdout, first.stderr).toContain('CertificateAuthority/issuing: AwaitingSignature');
    const csr = ws.write('issuing.csr', status(ws, 'CertificateAuthority/issuing').csr);
    expect(openssl('req', '-in', csr, '-noout', '-verify', '-subject')).toContain('O = Contoso, CN = Contoso Issuing');

    // Not a CA: refused, and the reason named.
    sign(csr, 'config/leaf.pem', 'basicConstraints=CA:FALSE\n');
    ws.write('config/root.pem', readFileSync(path('root.pem'), 'utf8'));
    ws.write('config/ca.yaml', inter('\n  signedCertificate: { file: leaf.pem }\n  chain: { file: root.pem }'));
    const notCa = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(notCa.stdout, notCa.stderr).toContain('is not a CA certificate (basicConstraints CA:TRUE is missing)');

    // Signed from another key: refused.
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('x.key'), '-out', path('x.csr'), '-subj', '/CN=Contoso Issuing');
    sign(path('x.csr'), 'config/x.pem', 'basicConstraints=critical,CA:TRUE\n');
    ws.write('config/ca.yaml', inter('\n  signedCertificate: { file: x.pem }\n  chain: { file: root.pem }'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).stdout).toContain("was not made from this CA's CSR");

    // Right one, but no chain: it does not reach a root.
    // Your CA chooses the key identifier; what the intermediate signs must repeat it.
    sign(csr, 'config/issuing.pem', 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=DE:AD:BE:EF:01:02:03:04\n');
    ws.write('config/ca.yaml', inter('\n  signedCertificate: { file: issuing.pem }'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).stdout).toContain('the chain does not reach a root');

    ws.write('config/ca.yaml', inter('\n  signedCertificate: { file: issuing.pem }\n  chain: { file: root.pem }'));
    const ok = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(ok.code).toBe(0);
    const s = status(ws, 'CertificateAuthority/issuing');
    expect(s.certificate).toBe(readFileSync(path('config/issuing.pem'), 'utf8').replace(/\r/g, ''));
    expect(s.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'CertificateReady' });
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
  });

  it('issues identity certificates under it that chain up to your root', async () => {
    await putUsers(ws.dir, users);
    ws.write('config/id.yaml', doc('CertificateConfiguration', 'id', 'identity:\n  certificateAuthorityRef: { name: issuing }\n  subject: CN=${userUPN}\ndistribution: { devices: AllDevices }'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const leaf = exportPem(ws, 'id', 'alice@contoso.com');
    expect(openssl('x509', '-in', leaf, '-noout', '-ext', 'authorityKeyIdentifier')).toContain('DE:AD:BE:EF:01:02:03:04');
    expect(openssl('verify', '-x509_strict', '-CAfile', path('root.pem'), '-untrusted', path('config/issuing.pem'), leaf)).toContain('OK');
  });
});

describe('uploaded certificates', () => {
  const ws = workspace();
  const path = (f: string) => join(ws.dir, f);
  const upload = (file: string) => doc('CertificateConfiguration', 'root', `uploaded:\n  certificate: { file: ${file} }\n  passwordSecretRef: { name: upload, key: password }\ndistribution: { devices: AllDevices }`);

  it('opens a PKCS#12 file with its password and shows what it holds', () => {
    ws.write('config/.keep', '');
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('k.pem'), '-out', path('c.pem'), '-subj', '/CN=Uploaded Root', '-days', '10');
    openssl('pkcs12', '-export', '-inkey', path('k.pem'), '-in', path('c.pem'), '-out', path('config/root.p12'), '-passout', 'pass:s3cret');
    ws.write('config/c.yaml', upload('root.p12'));
    const out = ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_UPLOAD__PASSWORD: 's3cret' });
    expect(out.code, out.stderr).toBe(0);
    expect(status(ws, 'CertificateConfiguration/root')).toMatchObject({ subject: 'CN=Uploaded Root', issuer: 'CN=Uploaded Root' });
    expect(ws.run(['notifications']).stdout).toMatch(/CertificateExpiring.*expires on .*, in 10 days/);
  });

  it('shows the certificate that holds the key, whatever comes first in the file', () => {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('ca.key'), '-out', path('ca.pem'), '-subj', '/CN=Upload CA', '-days', '3650', '-addext', 'basicConstraints=critical,CA:TRUE');
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', path('leaf.key'), '-out', path('leaf.csr'), '-subj', '/CN=Uploaded Leaf');
    openssl('x509', '-req', '-in', path('leaf.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-out', path('leaf.pem'), '-days', '10', '-extfile', ws.write('leaf.ext', 'basicConstraints=CA:FALSE\n'));
    ws.write('both.pem', readFileSync(path('ca.pem'), 'utf8') + readFileSync(path('leaf.pem'), 'utf8'));
    openssl('pkcs12', '-export', '-inkey', path('leaf.key'), '-in', path('both.pem'), '-out', path('config/chain.p12'), '-passout', 'pass:s3cret');
    ws.write('config/c.yaml', upload('chain.p12'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_UPLOAD__PASSWORD: 's3cret' }).code).toBe(0);
    expect(status(ws, 'CertificateConfiguration/root')).toMatchObject({ subject: 'CN=Uploaded Leaf', issuer: 'CN=Upload CA' });
    ws.write('config/c.yaml', upload('root.p12'));
  });

  it('refuses a wrong password, and a v1 certificate inside', () => {
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_UPLOAD__PASSWORD: 'bad' }).stdout).toContain('CertificateConfiguration/root: CertificateInvalid');
    expect(ws.run(['notifications']).stdout).toContain('cannot open spec.uploaded.certificate (root.p12): wrong password');
    openssl('req', '-new', '-key', path('k.pem'), '-out', path('v1.csr'), '-subj', '/CN=Legacy');
    openssl('x509', '-req', '-in', path('v1.csr'), '-signkey', path('k.pem'), '-out', path('v1.pem'), '-days', '10');
    openssl('pkcs12', '-export', '-inkey', path('k.pem'), '-in', path('v1.pem'), '-out', path('config/v1.p12'), '-passout', 'pass:s3cret');
    ws.write('config/c.yaml', upload('v1.p12'));
    ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_UPLOAD__PASSWORD: 's3cret' });
    expect(ws.run(['notifications']).stdout).toContain('(v1.p12) is an X.509 v1 certificate; only v3 certificates are accepted');
  });
});
