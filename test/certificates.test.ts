// Certificate authorities and identity certificates through the CLI, checked with openssl.
import { execFileSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validatePaths } from '../src/config/validate.js';
import { applyPlan } from '../src/engine/apply.js';
import { canonical } from '../src/util/canonical.js';
import type { Engine } from '../src/engine/context.js';
import { desiredOf } from '../src/config/desired.js';
import { makePlan } from '../src/engine/plan.js';
import { StandaloneSecrets } from '../src/config/secrets.js';
import { defaultProviders } from '../src/providers/index.js';
import { MasterKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { contentText, decideWork, targetsFor, type IdentitySpec, type Target } from '../src/providers/certificate-configuration/identity.js';
import { ambiguousGroups, reachedUsers } from '../src/providers/certificate-configuration/distribution.js';
import { certificateDue } from '../src/providers/certificate-authority/key-holder.js';
import type { IssuedCertificate, Write } from '../src/store/types.js';
import { deleteUser, putUsers, type UserSeed } from './support/seed.js';
import { BIN_PATH, NODE } from './support/cli.js';
import { doc, workspace, type Workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const status = (ws: Workspace, resource: string) => JSON.parse(ws.run(['status', resource, '-o', 'json']).stdout).status;
const listed = (ws: Workspace, config?: string) =>
  JSON.parse(ws.run(['certificates', ...(config ? [config] : []), '-o', 'json']).stdout) as { user: string; serial: string; fingerprintSha256: string; subject: string; notAfter: string }[];

const source = doc('EntraIdSource', 'entra', 'displayName: Entra\ntenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nclientSecretRef: { name: entra, key: secret }\nenabled: false\ncustomAttributes: [{ name: department }]');
const root = doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Test Root, organization: Contoso, country: FR }\nkeyAlgorithm: ECDSA-P384');
const issuing = doc('CertificateAuthority', 'issuing', 'type: Intermediate\nissuerRef: { name: root }\nsubject: { commonName: Test Issuing, organization: Contoso }\nkeyAlgorithm: RSA-2048');
const identity = (usages: string, extra = '') =>
  doc(
    'CertificateConfiguration',
    'vpn',
    `identity:
  certificateAuthorityRef: { name: issuing }
  subject: CN=\${userUPN},OU=\${department},O=Contoso
  subjectAltNames:
    - { type: UPN, value: "\${userUPN}" }
    - { type: Email, value: "\${userEmailAddress}" }
  keyAlgorithm: ECDSA-P256
  usages: ${usages}${extra}
distribution:
  devices: Custom
  selector: { groups: [vpn-users] }`,
  );

const users: UserSeed[] = [
  { id: 'u1', upn: 'alice@contoso.com', email: 'alice@contoso.com', groups: ['vpn-users'], attributes: { department: 'Sales' } },
  { id: 'u2', upn: 'zoë.dupont@contoso.com', email: 'zoe@contoso.com', groups: ['vpn-users'], attributes: { department: ['R&D', 'Ops'] } },
  { id: 'u3', upn: 'nodept@contoso.com', email: 'nodept@contoso.com', groups: ['vpn-users'], attributes: {} },
  { id: 'u4', upn: 'other@contoso.com', groups: ['staff'], attributes: { department: 'HR' } },
];

describe('Local and Intermediate CAs issuing identity certificates', () => {
  const ws = workspace();
  const env = { MDMOPS_SECRET_ENTRA__SECRET: 'x' };
  const apply = () => ws.run(['apply', '-f', 'config', '--auto-approve'], env);
  const plan = () => ws.run(['plan', '-f', 'config'], env);

  it('makes a root and an intermediate that chain up, with their keys sealed', async () => {
    ws.write('config/pki.yaml', source + root + issuing + identity('{ smartCardLogon: true, ipsec: true, customOids: [1.3.6.1.4.1.311.10.3.4] }'));
    const first = apply();
    expect(first.code, first.stderr + first.stdout).toBe(0);
    const rootStatus = status(ws, 'CertificateAuthority/root');
    const issuingStatus = status(ws, 'CertificateAuthority/issuing');
    const rootPem = ws.write('root.pem', rootStatus.certificate);
    const issuingPem = ws.write('issuing.pem', issuingStatus.certificate);
    expect(openssl('verify', '-x509_strict', '-CAfile', rootPem, issuingPem)).toContain('OK');
    expect(issuingStatus.chain).toBe(rootStatus.certificate);
    expect(issuingStatus.fingerprintSha256).toBe(new X509Certificate(issuingStatus.certificate).fingerprint256.replace(/:/g, '').toLowerCase());
    expect(rootStatus.notAfter).toBe(new Date(new X509Certificate(rootStatus.certificate).validTo).toISOString());
    expect(openssl('x509', '-in', rootPem, '-noout', '-text')).toContain('ASN1 OID: secp384r1');
    // Keys never reach the store in the clear.
    const db = readFileSync(join(ws.dir, '.mdmops/tenant.db'));
    expect(db.includes(Buffer.from('PRIVATE KEY'))).toBe(false);
  });

  it('issues a certificate to each user the distribution reaches, and reports those it cannot', async () => {
    await putUsers(ws.dir, users);
    const p = plan();
    expect(p.stdout).toContain('~ CertificateConfiguration/vpn (update)');
    expect(p.stdout).toContain('issue 2 identity certificates');
    expect(apply().code).toBe(0);
    const certs = listed(ws, 'vpn');
    expect(certs.map((c) => c.user).sort()).toEqual(['alice@contoso.com', 'zoë.dupont@contoso.com']);
    const s = status(ws, 'CertificateConfiguration/vpn');
    expect(s).toMatchObject({ reachedCount: 3, issuedCount: 2, waitingCount: 1, problems: ['nodept@contoso.com has no ${department}: no certificate issued'] });
    expect(ws.run(['notifications']).stdout).toContain('CertificatesNotIssued');
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode'], env).code).toBe(0);
  });

  it('exports a certificate as PKCS#12 that openssl opens and verifies, with the usages and names asked for', () => {
    ws.write('pw', 'export-pässword\n');
    const out = ws.run(['certificates', 'vpn', '--export', 'zoë.dupont@contoso.com', '--out', 'zoe.p12', '--password-file', 'pw']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain('with its key and 2 CA certificates');
    const p12 = join(ws.dir, 'zoe.p12');
    const leaf = ws.write('zoe.pem', openssl('pkcs12', '-in', p12, '-passin', 'pass:export-pässword', '-clcerts', '-nokeys'));
    const chain = ws.write('chain.pem', openssl('pkcs12', '-in', p12, '-passin', 'pass:export-pässword', '-cacerts', '-nokeys'));
    expect(openssl('pkcs12', '-in', p12, '-passin', 'pass:export-pässword', '-nocerts', '-nodes')).toContain('BEGIN PRIVATE KEY');
    expect(openssl('verify', '-x509_strict', '-CAfile', join(ws.dir, 'root.pem'), '-untrusted', chain, leaf)).toContain('OK');
    const text = openssl('x509', '-in', leaf, '-noout', '-text', '-nameopt', 'RFC2253,-esc_msb');
    expect(text).toContain('Subject: CN=zoë.dupont@contoso.com,OU=R&D,O=Contoso');
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication, IPSec End System, IPSec User, ipsec Internet Key Exchange, Microsoft Smartcard Login, Microsoft Encrypted File System/);
    expect(text).toContain('othername: UPN::zoë.dupont@contoso.com, email:zoe@contoso.com');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Agreement/);
    // A wrong password opens nothing; an existing file is not overwritten; no password, no export.
    expect(() => openssl('pkcs12', '-in', p12, '-passin', 'pass:wrong', '-nokeys')).toThrow();
    expect(ws.run(['certificates', 'vpn', '--export', 'u2', '--out', 'zoe.p12', '--password-file', 'pw']).stderr).toContain('cannot write zoe.p12: it exists');
    expect(ws.run(['certificates', 'vpn', '--export', 'u2', '--out', 'x.p12', '--password-file', 'nope']).stderr).toContain('cannot read the password file nope: no such file');
    expect(ws.run(['audit']).stdout).toMatch(/export-key/);
    expect(ws.run(['certificates', 'vpn', '--export', 'u2', '--out', 'other.p12']).stderr).toContain('never on the command line');
  });

  it('issues again when the template changes, and only then', () => {
    const before = listed(ws, 'vpn');
    ws.write('config/pki.yaml', source + root + issuing + identity('{ clientAuthentication: true }'));
    const p = plan();
    expect(p.stdout).toContain('issue again 2 identity certificates (template, user or CA changed)');
    expect(apply().code).toBe(0);
    const after = listed(ws, 'vpn');
    expect(after.map((c) => c.serial)).not.toContain(before[0]!.serial);
    const out = ws.run(['certificates', 'vpn', '--export', 'alice@contoso.com', '--out', 'alice.p12'], { MDMOPS_EXPORT_PASSWORD: 'pw' });
    expect(out.code, out.stderr).toBe(0);
    const text = openssl('pkcs12', '-in', join(ws.dir, 'alice.p12'), '-passin', 'pass:pw', '-clcerts', '-nokeys');
    writeFileSync(join(ws.dir, 'alice.pem'), text);
    // The -o FILE of the previous release still writes it, with a warning.
    const old = ws.run(['certificates', 'vpn', '--export', 'alice@contoso.com', '-o', 'alice-old.p12'], { MDMOPS_EXPORT_PASSWORD: 'pw' });
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain('-o FILE with --export is deprecated');
    const fingerprint = (pem: string) => new X509Certificate(pem.slice(pem.indexOf('-----BEGIN'))).fingerprint256;
    expect(fingerprint(openssl('pkcs12', '-in', join(ws.dir, 'alice-old.p12'), '-passin', 'pass:pw', '-clcerts', '-nokeys'))).toBe(fingerprint(text));
    expect(openssl('x509', '-in', join(ws.dir, 'alice.pem'), '-noout', '-ext', 'extendedKeyUsage')).toMatch(/^\s+TLS Web Client Authentication$/m);
  });

  it('issues RSA keys when the template asks for them', () => {
    ws.write('config/pki.yaml', source + root + issuing + identity('{ clientAuthentication: true }').replace('keyAlgorithm: ECDSA-P256', 'keyAlgorithm: RSA-2048'));
    expect(plan().stdout).toContain('issue again 2 identity certificates');
    expect(apply().code).toBe(0);
    const out = ws.run(['certificates', 'vpn', '--export', 'alice@contoso.com', '--out', 'alice-rsa.p12'], { MDMOPS_EXPORT_PASSWORD: 'pw' });
    expect(out.code, out.stderr).toBe(0);
    const p12 = join(ws.dir, 'alice-rsa.p12');
    const leaf = ws.write('alice-rsa.pem', openssl('pkcs12', '-in', p12, '-passin', 'pass:pw', '-clcerts', '-nokeys'));
    const chain = ws.write('alice-rsa-chain.pem', openssl('pkcs12', '-in', p12, '-passin', 'pass:pw', '-cacerts', '-nokeys'));
    expect(openssl('verify', '-x509_strict', '-CAfile', join(ws.dir, 'root.pem'), '-untrusted', chain, leaf)).toContain('OK');
    const text = openssl('x509', '-in', leaf, '-noout', '-text');
    expect(text).toContain('Public-Key: (2048 bit)');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(openssl('pkcs12', '-in', p12, '-passin', 'pass:pw', '-nocerts', '-nodes')).toContain('BEGIN PRIVATE KEY');
  });

  it('removes the certificate of a user who leaves the distribution', async () => {
    await deleteUser(ws.dir, 'u1');
    expect(plan().stdout).toContain('remove 1 identity certificate (users no longer reached)');
    expect(apply().code).toBe(0);
    expect(listed(ws, 'vpn').map((c) => c.user)).toEqual(['zoë.dupont@contoso.com']);
  });

  it('re-issues everything when its CA is replaced, and says so in the plan', () => {
    ws.write('config/pki.yaml', source + root + issuing.replace('RSA-2048', 'ECDSA-P256') + identity('{ clientAuthentication: true }'));
    const p = plan();
    expect(p.stdout).toContain('-/+ CertificateAuthority/issuing (replace: spec.keyAlgorithm cannot change in place)');
    expect(p.stdout).toContain('1 identity certificate it issued is issued again');
    const before = listed(ws, 'vpn')[0]!;
    const applied = apply();
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('CertificateConfiguration/vpn updated');
    const after = listed(ws, 'vpn')[0]!;
    expect(after.fingerprintSha256).not.toBe(before.fingerprintSha256);
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode'], env).code).toBe(0);
  });

  it('removes the certificates with the configuration', () => {
    ws.write('config/pki.yaml', source + root + issuing.replace('RSA-2048', 'ECDSA-P256'));
    expect(apply().code).toBe(0);
    expect(ws.run(['certificates']).stdout).toContain('No identity certificates');
  });
});

describe('apply on a terminal', () => {
  const ws = workspace();

  it('shows how many identity certificates are issued while it works', async () => {
    const wifi = doc('CertificateConfiguration', 'wifi', 'identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=${userUPN}\n  keyAlgorithm: ECDSA-P256\ndistribution: { devices: AllDevices }');
    ws.write('config/pki.yaml', root + wifi);
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    await putUsers(ws.dir, Array.from({ length: 300 }, (_, i) => ({ id: `u${i}`, upn: `user${i}@contoso.com` })));
    // script(1) gives the command a terminal, as an administrator's shell does.
    const out = execFileSync('script', ['-qec', `'${NODE}' '${BIN_PATH}' apply -f config --auto-approve`, '/dev/null'], { cwd: ws.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    expect(out).toMatch(/\rCertificateConfiguration\/wifi: [\d,]+ \/ 300 identity certificates, [\d,]+\/s/);
    expect(out).toContain('CertificateConfiguration/wifi updated');
    expect(listed(ws, 'wifi')).toHaveLength(300);
  });
});

describe('observing what has not changed', () => {
  const ws = workspace();

  it('opens no CA key to plan, nor in a no-op apply; issuing opens the issuing CA\'s', async () => {
    ws.write('config/pki.yaml', source + root + issuing + identity('{ clientAuthentication: true }'));
    const engine: Engine = { store: await openStore(parseStoreSpec(`sqlite:${join(ws.dir, 'tenant.db')}`)), key: new MasterKey(randomBytes(32)), providers: defaultProviders() };
    const secrets = new StandaloneSecrets(join(ws.dir, 'secrets'), { MDMOPS_SECRET_ENTRA__SECRET: 'x' });
    const opened: string[] = [];
    const getBlob = engine.store.getBlob.bind(engine.store);
    engine.store.getBlob = (id, purpose) => (opened.push(`${id.name}#${purpose}`), getBlob(id, purpose));
    const plan = async () => {
      const result = validatePaths([join(ws.dir, 'config')]);
      const desired = [];
      for (const v of result.resources) desired.push(await desiredOf(v, result.content, secrets, engine.key));
      return makePlan(engine, desired, { source: 'test', revision: 'r1' });
    };
    const apply = async () => applyPlan(engine, await plan(), { actor: 'test', secrets });
    try {
      await apply();
      await engine.store.commit(users.map((u) => ({ op: 'putUser', user: { tenant: 'default', source: 'EntraIdSource/entra', labels: {}, ...u } }) as Write));

      opened.length = 0;
      const work = await plan();
      expect(work.changes.filter((c) => c.action !== 'no-op').map((c) => [c.id.name, c.action, c.impact])).toEqual([['vpn', 'update', ['issue 2 identity certificates']]]);
      expect(opened).toEqual([]);
      await applyPlan(engine, work, { actor: 'test', secrets });
      expect(opened).toEqual(['issuing#private-key']);

      opened.length = 0;
      const again = await plan();
      expect(again.changes.every((c) => c.action === 'no-op')).toBe(true);
      expect((await applyPlan(engine, again, { actor: 'test', secrets })).writes).toBe(0);
      expect(opened).toEqual([]);
    } finally {
      await engine.store.close();
    }
  });
});

describe('renewal through the CLI', () => {
  const ws = workspace();
  const run = (...args: string[]) => ws.run([...args, '-f', 'config'], { MDMOPS_SECRET_ENTRA__SECRET: 'x' });
  const held = () => listed(ws, 'wifi');

  it('renews a CA certificate and an identity certificate once within renewBefore, and then leaves them', async () => {
    // A minute of life (and 5 minutes backdated for clock skew): due 15 seconds after issue, a margin
    // wide enough for the plans around it on a slow machine.
    const wifi = doc('CertificateConfiguration', 'wifi', 'identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=${userUPN}\n  keyAlgorithm: ECDSA-P256\n  validity: 60s\n  renewBefore: 45s\ndistribution: { devices: AllDevices }');
    const short = doc('CertificateAuthority', 'short', 'type: Local\nsubject: { commonName: Short-lived Root }\nkeyAlgorithm: ECDSA-P256\nvalidity: 60s\nrenewBefore: 45s');
    ws.write('config/pki.yaml', source + doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Renewing Root }\nkeyAlgorithm: ECDSA-P256') + wifi);
    expect(run('apply', '--auto-approve').code).toBe(0);
    await putUsers(ws.dir, [users[0]!]);
    ws.write('config/pki.yaml', source + doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Renewing Root }\nkeyAlgorithm: ECDSA-P256') + wifi + short);
    expect(run('apply', '--auto-approve').code).toBe(0);
    const [first] = held();
    expect(run('plan', '--detailed-exitcode').code).toBe(0); // not yet due

    await new Promise((r) => setTimeout(r, Date.parse(first!.notAfter) - 45_000 - Date.now() + 500));
    const caBefore = status(ws, 'CertificateAuthority/short');
    const p = run('plan').stdout;
    expect(p).toContain('renew 1 identity certificate');
    expect(p).toMatch(/~ CertificateAuthority\/short \(update\)\n\s+impact: issue the CA certificate: it expires on \S+, within renewBefore \(45s\)/);
    expect(run('apply', '--auto-approve').code).toBe(0);
    const caAfter = status(ws, 'CertificateAuthority/short');
    expect(caAfter.fingerprintSha256).not.toBe(caBefore.fingerprintSha256);
    expect(Date.parse(caAfter.notAfter)).toBeGreaterThan(Date.parse(caBefore.notAfter));
    const [second] = held();
    expect(second!.serial).not.toBe(first!.serial);
    expect(Date.parse(second!.notAfter)).toBeGreaterThan(Date.parse(first!.notAfter));
    expect(run('plan', '--detailed-exitcode').code).toBe(0); // renewed once, not on every apply
  }, 60_000);
});

describe('deciding the work (pure)', () => {
  const user = (id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({ tenant: 't', id, source: 's', upn: `${id}@x`, groups: [], attributes: {}, labels: {}, ...extra });
  const target = (id: string, contentHash = 'c'): Target => ({ user: user(id), subject: `CN=${id}`, subjectAltNames: [], contentHash });
  const held = (userId: string, notAfter: string, contentHash = 'c', issuerKey = 'k'): IssuedCertificate =>
    ({ userId, notBefore: '2025-06-01T00:00:00Z', notAfter, contentHash, issuerKey } as IssuedCertificate);
  const now = Date.parse('2026-06-01T00:00:00Z');

  it('hashes what a certificate says as the canonical JSON of it, as stored hashes were made', () => {
    const spec = { keyAlgorithm: 'ECDSA-P256', validity: '365d' };
    const cases: [string, Target['subjectAltNames'], string[]][] = [
      ['CN=a@x,O=Bench', [{ type: 'Email', value: 'a@x' }], ['1.3.6.1.5.5.7.3.2']],
      ['CN=Zoë \\"Q\\"\\, Jr.', [{ type: 'UPN', value: 'zoë@x' }, { type: 'DNS', value: 'h.x' }], []],
      ['CN=b', [], ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2']],
    ];
    for (const [subject, subjectAltNames, eku] of cases) {
      expect(contentText(spec, eku, subject, subjectAltNames)).toBe(canonical({ subject, subjectAltNames, eku, ...spec }));
    }
  });

  it('expands the templates for each user, escaping values in the subject, and names what a user lacks', () => {
    const id = {
      subject: 'CN=${userUPN},OU=${department},O=Bench',
      subjectAltNames: [{ type: 'Email', value: '${userEmailAddress}' }, { type: 'UPN', value: '${userUPN}' }],
      keyAlgorithm: 'ECDSA-P256',
      validity: '365d',
      usages: { clientAuthentication: true, ipsec: false, smartCardLogon: false },
    } as IdentitySpec;
    const { targets, problems } = targetsFor(id, [
      user('a', { upn: 'a,b+c@x', email: 'a@x', attributes: { department: ['R&D', 'ops'] } }),
      user('b', { attributes: { department: 'Sales' } }),
      user('c', { email: 'c@x' }),
    ]);
    expect(targets.map((t) => [t.subject, t.subjectAltNames.map((s) => s.value)])).toEqual([['CN=a\\,b\\+c@x,OU=R&D,O=Bench', ['a@x', 'a,b+c@x']]]);
    expect(problems).toEqual(['b@x has no ${userEmailAddress}: no certificate issued', 'c@x has no ${department}: no certificate issued']);
  });

  it('renews within renewBefore and not before', () => {
    const w = decideWork([target('a'), target('b')], new Set(['a', 'b']), [held('a', '2026-06-20T00:00:00Z'), held('b', '2026-08-01T00:00:00Z')], { key: 'k' }, '30d', now);
    expect(w.renew.map((t) => t.user.id)).toEqual(['a']);
    expect(w.issue).toEqual([]);
    expect(w.reissue).toEqual([]);
    // Not when the CA expires before a renewed certificate would.
    const capped = decideWork([target('a')], new Set(['a']), [held('a', '2026-06-20T00:00:00Z')], { key: 'k', notAfter: Date.parse('2026-06-20T00:00:00Z') }, '30d', now);
    expect(capped.renew).toEqual([]);
  });

  it('issues again on a new template or CA, removes who is gone, and waits for an issuer', () => {
    const existing = [held('a', '2027-01-01T00:00:00Z', 'old'), held('b', '2027-01-01T00:00:00Z', 'c', 'other'), held('gone', '2027-01-01T00:00:00Z')];
    const w = decideWork([target('a'), target('b'), target('new')], new Set(['a', 'b', 'new']), existing, { key: 'k' }, '1d', now);
    expect(w.reissue.map((t) => t.user.id)).toEqual(['a', 'b']);
    expect(w.issue.map((t) => t.user.id)).toEqual(['new']);
    expect(w.remove.map((c) => c.userId)).toEqual(['gone']);
    const waiting = decideWork([target('a')], new Set(['a']), existing, undefined, '1d', now);
    expect(waiting.issue).toEqual([]);
    expect(waiting.remove.map((c) => c.userId)).toEqual(['b', 'gone']);
  });

  it('renews a CA certificate within renewBefore, on a new validity and when its issuer changes, and never in a loop', () => {
    const spec = { subject: { commonName: 'x' }, keyAlgorithm: 'RSA-2048', validity: '365d', renewBefore: '30d' };
    const status = { certificate: 'PEM', notBefore: '2025-08-01T00:00:00.000Z', notAfter: '2026-08-01T00:00:00.000Z', chain: 'ISSUER' };
    const issuer = (chain: string, notAfter = '2030-01-01T00:00:00Z') => ({ chain, notAfter: Date.parse(notAfter) });
    expect(certificateDue({}, spec, undefined, now)).toBe('no certificate yet');
    expect(certificateDue(status, spec, undefined, now)).toBeUndefined();
    expect(certificateDue(status, spec, undefined, Date.parse('2026-07-05T00:00:00Z'))).toContain('within renewBefore (30d)');
    expect(certificateDue(status, { ...spec, validity: '730d' }, undefined, now)).toBe('validity changed to 730d');
    expect(certificateDue(status, spec, issuer('ISSUER'), now)).toBeUndefined();
    expect(certificateDue(status, spec, issuer('RENEWED ISSUER'), now)).toBe("the issuer's certificate changed");
    // Capped by an issuer that expires first: renewing would not help, so it is not due.
    expect(certificateDue(status, spec, issuer('ISSUER', '2026-08-01T00:00:00Z'), Date.parse('2026-07-05T00:00:00Z'))).toBeUndefined();
    // Shorter-lived than renewBefore: renewed at half-life, not at once.
    const short = { ...status, notBefore: '2026-05-31T00:00:00.000Z', notAfter: '2026-06-10T00:00:00.000Z' };
    expect(certificateDue(short, { ...spec, validity: '10d' }, undefined, now)).toBeUndefined();
    expect(certificateDue(short, { ...spec, validity: '10d' }, undefined, Date.parse('2026-06-06T00:00:00Z'))).toContain('within renewBefore');
  });

  it('reaches users by distribution, space and selector', () => {
    const us = [user('a', { groups: ['g'] }), user('b', { groups: ['emea'] }), user('c', { labels: { os: 'ios' } })];
    const spaces = [{ name: 'emea', priority: 1, members: { groups: ['emea'] } }];
    const ids = (xs: DirectoryUser[]) => xs.map((u) => u.id);
    const base = { enabled: true, distribution: { devices: 'AllDevices' as const, otherSpaces: 'DoNotApply' as const } };
    expect(ids(reachedUsers(base, us, spaces))).toEqual(['a', 'c']);
    expect(ids(reachedUsers({ ...base, distribution: { ...base.distribution, otherSpaces: 'ApplyToDevicesInOtherSpaces' } }, us, spaces))).toEqual(['a', 'b', 'c']);
    expect(ids(reachedUsers({ ...base, spaceRef: { name: 'emea' } }, us, spaces))).toEqual(['b']);
    expect(ids(reachedUsers({ ...base, distribution: { devices: 'Custom', selector: { matchLabels: { os: 'ios' } }, otherSpaces: 'DoNotApply' } }, us, spaces))).toEqual(['c']);
    expect(ids(reachedUsers({ ...base, enabled: false }, us, spaces))).toEqual([]);
  });

  it('selects a group by name or by id, and names a group name more than one group bears', () => {
    const us = [user('a', { groups: ['Sales'], groupIds: ['g1'] }), user('b', { groups: ['Sales', 'Staff'], groupIds: ['g2', 'g3'] }), user('c', { groups: ['Sales'] })];
    const custom = (groups: string[]) => ({ enabled: true, distribution: { devices: 'Custom' as const, selector: { groups }, otherSpaces: 'ApplyToDevicesInOtherSpaces' as const } });
    expect(reachedUsers(custom(['Sales']), us, []).map((u) => u.id)).toEqual(['a', 'b', 'c']);
    expect(reachedUsers(custom(['g2']), us, []).map((u) => u.id)).toEqual(['b']);
    expect(ambiguousGroups(['Sales', 'Staff'], us)).toEqual(['group "Sales" names 2 groups (s group g1, s group g2): the members of each are selected; name one by its id']);
    expect(ambiguousGroups(['g1'], us)).toEqual([]);
  });
});
