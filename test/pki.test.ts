// Certificates, requests and PKCS#12 files written by mdmops, read back by openssl.
import { execFileSync } from 'node:child_process';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certificationRequest, issueCertificate, KeyUsage, OID, toPem } from '../src/pki/certificate.js';
import { issueMany, type ManyResult } from '../src/pki/issue-many.js';
import { makeKey, makeKeyDer, privateKey } from '../src/pki/keys.js';
import { escapeDnValue, parseDn, encodeName, subjectName } from '../src/pki/name.js';
import { readPkcs12, writePkcs12 } from '../src/pki/pkcs12.js';

const dir = mkdtempSync(join(tmpdir(), 'mdmops-pki-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string | Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

const YEAR = 365 * 86_400_000;
async function ca(algorithm: string, name: string, issuer?: { name: Buffer; key: import('node:crypto').KeyObject }) {
  const key = await makeKey(algorithm);
  const subject = subjectName({ commonName: name, organization: 'Contoso', country: 'FR' });
  const signer = issuer ?? { name: subject, key };
  const der = await issueCertificate({
    subject,
    publicKey: createPublicKey(key),
    issuer: { name: signer.name, key: signer.key, publicKey: createPublicKey(signer.key) },
    notBefore: new Date(),
    notAfter: new Date(Date.now() + YEAR),
    ca: {},
    keyUsage: [KeyUsage.keyCertSign, KeyUsage.cRLSign],
  });
  return { key, subject, der };
}

describe('X.509 certificates', () => {
  it.each(['RSA-2048', 'ECDSA-P256', 'ECDSA-P384'])('makes a %s root and an intermediate that openssl accepts as CAs', async (algorithm) => {
    const root = await ca(algorithm, `Root ${algorithm}`);
    const inter = await ca('ECDSA-P256', 'Issuing', { name: root.subject, key: root.key });
    const rootPem = file(`root-${algorithm}.pem`, toPem(root.der));
    const interPem = file(`inter-${algorithm}.pem`, toPem(inter.der));
    expect(openssl('verify', '-x509_strict', '-CAfile', rootPem, interPem)).toContain('OK');
    const text = openssl('x509', '-in', rootPem, '-noout', '-text');
    expect(text).toContain('Version: 3 (0x2)');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('X509v3 Authority Key Identifier');
    expect(text).toContain('Subject: C = FR, O = Contoso, CN = Root');
    expect(new X509Certificate(inter.der).checkIssued(new X509Certificate(root.der))).toBe(true);
  });

  it('issues identity certificates with each usage and name that openssl reads', async () => {
    const root = await ca('RSA-2048', 'Root');
    const rootPem = file('root.pem', toPem(root.der));
    const leafKey = await makeKey('RSA-2048');
    const subject = encodeName(parseDn(`CN=${escapeDnValue('Doe, Zoë')},OU=R&D,O=Contoso,serialNumber=E123`));
    const der = await issueCertificate({
      subject,
      publicKey: createPublicKey(leafKey),
      issuer: { name: root.subject, key: root.key, publicKey: createPublicKey(root.key) },
      notBefore: new Date(),
      notAfter: new Date(Date.now() + YEAR),
      keyUsage: [KeyUsage.digitalSignature, KeyUsage.keyEncipherment],
      extendedKeyUsage: [OID.clientAuth, OID.ipsecEndSystem, OID.ipsecUser, OID.ipsecIke, OID.smartCardLogon, '1.3.6.1.4.1.311.10.3.4'],
      subjectAltNames: [
        { type: 'UPN', value: 'zoë@contoso.com' },
        { type: 'Email', value: 'zoe@contoso.com' },
        { type: 'DNS', value: 'device-1.contoso.com' },
        { type: 'URI', value: 'urn:uuid:1234' },
      ],
    });
    const leafPem = file('leaf.pem', toPem(der));
    expect(openssl('verify', '-x509_strict', '-CAfile', rootPem, leafPem)).toContain('OK');
    const text = openssl('x509', '-in', leafPem, '-noout', '-text', '-nameopt', 'utf8');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toContain('CA:FALSE');
    expect(text).toMatch(/Extended Key Usage:\s+TLS Web Client Authentication, IPSec End System, IPSec User, ipsec Internet Key Exchange, Microsoft Smartcard Login, Microsoft Encrypted File System/);
    expect(text).toContain('othername: UPN::zoë@contoso.com');
    expect(text).toContain('email:zoe@contoso.com, DNS:device-1.contoso.com, URI:urn:uuid:1234');
    expect(openssl('x509', '-in', leafPem, '-noout', '-subject', '-nameopt', 'RFC2253,-esc_msb')).toBe('subject=CN=Doe\\, Zoë,OU=R&D,O=Contoso,serialNumber=E123\n');
  });

  it.each(['ECDSA-P256', 'ECDSA-P384', 'RSA-2048'])('encodes %s key pairs as OpenSSL does', async (algorithm) => {
    const { pkcs8, spki } = await makeKeyDer(algorithm);
    const key = privateKey(pkcs8);
    expect(key.export({ type: 'pkcs8', format: 'der' })).toEqual(pkcs8);
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' })).toEqual(spki);
  });

  it('keeps an EC private key at its full length when it starts with a zero byte', async () => {
    // One key in 256 does; node gives such a number without its leading zero.
    for (let i = 0; i < 20_000; i++) {
      const { pkcs8 } = await makeKeyDer('ECDSA-P256');
      const key = privateKey(pkcs8);
      if (Buffer.from(key.export({ format: 'jwk' }).d!, 'base64url')[0] !== 0) continue;
      expect(key.export({ type: 'pkcs8', format: 'der' })).toEqual(pkcs8);
      return;
    }
    throw new Error('no key starting with a zero byte in 20,000');
  });

  it('refuses names a string type cannot hold rather than writing other characters', async () => {
    const root = await ca('ECDSA-P256', 'Root');
    const leaf = (san: string) =>
      issueCertificate({
        subject: encodeName(parseDn('CN=x')),
        publicKey: createPublicKey(root.key),
        issuer: { name: root.subject, key: root.key, publicKey: createPublicKey(root.key) },
        notBefore: new Date(),
        notAfter: new Date(Date.now() + YEAR),
        keyUsage: [KeyUsage.digitalSignature],
        subjectAltNames: [{ type: 'Email', value: san }],
      });
    await expect(leaf('zoő@contoso.com')).rejects.toThrow('"zoő@contoso.com" cannot be written as an IA5String (ASCII only)');
    expect(() => encodeName(parseDn('CN=x,serialNumber=E_1'))).toThrow('cannot be written as a PrintableString');
    expect(parseDn('CN=Z\\C3\\A9lie')).toEqual([[{ type: 'CN', value: 'Zélie' }]]);
  });

  it('issues many in slices, letting the event loop run between them, and fails only the items that cannot be issued', async () => {
    const root = await ca('ECDSA-P384', 'Many Root');
    const items = Array.from({ length: 120 }, (_, i) => ({
      get subject() {
        return encodeName(parseDn(i === 7 ? 'CN=x,C=France' : `CN=user${i}`));
      },
      subjectAltNames: [{ type: 'Email' as const, value: i === 9 ? 'zoő@contoso.com' : `user${i}@contoso.com` }],
    }));
    let turns = 0;
    const tick = () => {
      turns++;
      timer = setImmediate(tick);
    };
    let timer = setImmediate(tick);
    const results: ManyResult[] = [];
    const input = { issuer: { name: root.subject, key: root.key, publicKey: createPublicKey(root.key) }, notBefore: new Date(), notAfter: new Date(Date.now() + YEAR), keyUsage: [KeyUsage.digitalSignature], extendedKeyUsage: [OID.clientAuth] };
    await issueMany(input, 'P256', items, (i, r) => {
      expect(results[i]).toBeUndefined();
      results[i] = r;
    });
    clearImmediate(timer);
    expect(turns).toBeGreaterThanOrEqual(2); // three slices of 50
    expect(results[7]).toEqual({ error: 'C must be a two-letter country code, not "France"' });
    expect(results[9]).toEqual({ error: '"zoő@contoso.com" cannot be written as an IA5String (ASCII only)' });
    const issued = results.filter((r): r is Exclude<ManyResult, { error: string }> => !('error' in r));
    expect(issued).toHaveLength(118);
    expect(new Set(issued.map((r) => r.serial.toString('hex'))).size).toBe(118);
    const files = issued.map((r, i) => file(`many-${i}.pem`, toPem(r.certificate)));
    expect(openssl('verify', '-x509_strict', '-CAfile', file('many-root.pem', toPem(root.der)), ...files).match(/: OK/g)).toHaveLength(118);
    for (const r of issued.slice(0, 5)) {
      const cert = new X509Certificate(r.certificate);
      expect(createPublicKey(privateKey(r.pkcs8)).export({ type: 'spki', format: 'der' })).toEqual(cert.publicKey.export({ type: 'spki', format: 'der' }));
      expect(cert.serialNumber).toBe(r.serial.toString('hex').toUpperCase());
    }
  });

  it('refuses a subject that is not a distinguished name', () => {
    expect(() => parseDn('alice')).toThrow('is not a distinguished name');
    expect(() => parseDn('CN=a,XX=b')).toThrow('unknown attribute type "XX"');
    expect(() => encodeName(parseDn('CN=a,C=France'))).toThrow('two-letter country code');
  });

  it('writes certificate requests that openssl verifies', async () => {
    for (const algorithm of ['RSA-2048', 'ECDSA-P256']) {
      const key = await makeKey(algorithm);
      const csr = await certificationRequest({ subject: subjectName({ commonName: 'Issuing CA' }), key, ca: true, challengePassword: 'pw' });
      const path = file(`req-${algorithm}.pem`, toPem(csr, 'CERTIFICATE REQUEST'));
      const text = execFileSync('openssl', ['req', '-in', path, '-noout', '-verify', '-text'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(text).toContain('Subject: CN = Issuing CA');
      expect(text).toMatch(/challengePassword\s+:pw/);
      expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE/);
    }
  });
});

describe('PKCS#12', () => {
  it.each(['RSA-2048', 'ECDSA-P256'])('writes a %s file openssl opens with the password, and only with it', async (algorithm) => {
    const root = await ca('RSA-2048', 'Root');
    const key = await makeKey(algorithm);
    const leaf = await issueCertificate({
      subject: encodeName(parseDn('CN=alice')),
      publicKey: createPublicKey(key),
      issuer: { name: root.subject, key: root.key, publicKey: createPublicKey(root.key) },
      notBefore: new Date(),
      notAfter: new Date(Date.now() + YEAR),
      keyUsage: [KeyUsage.digitalSignature],
    });
    const path = file(`alice-${algorithm}.p12`, writePkcs12({ key, certificates: [leaf, root.der], password: 'pässword', friendlyName: 'alice' }));
    const out = openssl('pkcs12', '-in', path, '-passin', 'pass:pässword', '-nodes');
    expect(out).toContain('friendlyName: alice');
    expect(out).toContain('subject=CN = alice');
    expect(out).toContain('subject=C = FR, O = Contoso, CN = Root');
    expect(out).toContain('-----BEGIN PRIVATE KEY-----');
    expect(() => openssl('pkcs12', '-in', path, '-passin', 'pass:wrong', '-nodes')).toThrow(/mac verify (failure|error)/i);
    // And we read back what we wrote.
    const back = readPkcs12(readFileSync(path), 'pässword');
    expect(back.certificates.map((c) => new X509Certificate(c).subject)).toEqual(['CN=alice', 'C=FR\nO=Contoso\nCN=Root']);
    expect(back.key?.asymmetricKeyType).toBe(key.asymmetricKeyType);
  });

  it.each([['rsa:2048', 'rsa'], ['ec', 'ec']])('opens a %s file made by openssl, and says so when the password is wrong', (newkey, type) => {
    const keyArgs = newkey === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', newkey];
    const key = join(dir, `os-${type}.key`);
    const cert = join(dir, `os-${type}.pem`);
    openssl('req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', cert, '-subj', '/CN=auth', '-days', '30');
    const p12 = join(dir, `os-${type}.p12`);
    openssl('pkcs12', '-export', '-inkey', key, '-in', cert, '-out', p12, '-passout', 'pass:sécret');
    const opened = readPkcs12(readFileSync(p12), 'sécret');
    expect(opened.key?.asymmetricKeyType).toBe(type);
    expect(new X509Certificate(opened.certificates[0]!).fingerprint256).toBe(new X509Certificate(readFileSync(cert)).fingerprint256);
    expect(() => readPkcs12(readFileSync(p12), 'nope')).toThrow('wrong password');
  });
});
