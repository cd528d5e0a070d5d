// The SCEP client against a real SCEP server (micromdm's scepserver), checked with openssl as an administrator would.
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enroll, getCaCaps, getCaCert, httpTransport, ScepError, type ScepTransport } from '../src/pki/scep.js';
import { freePort } from './servers/ports.js';
import { startScep, type ScepServer } from './servers/scep.js';

let scep: ScepServer;
const dir = mkdtempSync(join(tmpdir(), 'mdmops-scep-test-'));
beforeAll(async () => {
  scep = await startScep();
  writeFileSync(join(dir, 'ca.pem'), scep.caPem);
});
afterAll(async () => {
  await scep?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** An RSA-2048 key (PKCS#8 DER) and a CSR for it with the SCEP challenge and an email subjectAltName, as a device makes them. */
function request(cn: string, challenge: string) {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string);
  csr.setSubject([{ name: 'commonName', value: cn }]);
  csr.setAttributes([
    { name: 'challengePassword', value: challenge },
    { name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 1, value: `${cn}@example.com` }] }] },
  ]);
  csr.sign(forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), forge.md.sha256.create());
  return {
    publicKey,
    csrDer: Buffer.from(forge.asn1.toDer(forge.pki.certificationRequestToAsn1(csr)).getBytes(), 'binary'),
    keyPkcs8: privateKey.export({ type: 'pkcs8', format: 'der' }),
  };
}

/** httpTransport, noting each operation sent. */
function recording(): ScepTransport & { operations: string[] } {
  const operations: string[] = [];
  return {
    operations,
    request(method, url, body) {
      operations.push(new URL(url).searchParams.get('operation') ?? '');
      return httpTransport.request(method, url, body);
    },
  };
}

async function scepError(promise: Promise<unknown>): Promise<ScepError> {
  const e = await promise.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(ScepError);
  return e as ScepError;
}

describe('SCEP client against scepserver', () => {
  it('reads the capabilities', async () => {
    expect(await getCaCaps(scep.url)).toEqual(expect.arrayContaining(['POSTPKIOperation', 'SHA-256', 'AES']));
  });

  it('GetCACert returns the depot CA', async () => {
    const certs = await getCaCert(scep.url);
    expect(certs).toHaveLength(1);
    expect(createHash('sha256').update(certs[0]!).digest('hex')).toBe(scep.caFingerprint);
  });

  it('enrols a CSR and gets a certificate the CA signed for our key', async () => {
    const { publicKey, csrDer, keyPkcs8 } = request('device-1', scep.challenge);
    const transport = recording();
    const { certificate, caCertificates } = await enroll({ url: scep.url, csrDer, keyPkcs8, caFingerprint: scep.caFingerprint.toUpperCase().match(/../g)!.join(':'), transport });
    expect(transport.operations).toEqual(['GetCACaps', 'GetCACert', 'PKIOperation']);

    const leaf = new X509Certificate(certificate);
    expect(leaf.publicKey.equals(publicKey)).toBe(true);
    expect(caCertificates.map((c) => new X509Certificate(c).fingerprint256.replace(/:/g, '').toLowerCase())).toEqual([scep.caFingerprint]);

    writeFileSync(join(dir, 'leaf.pem'), leaf.toString());
    expect(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' })).toContain('leaf.pem: OK');
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/Subject: CN ?= ?device-1/);
    expect(text).toContain('email:device-1@example.com');
  });

  it('falls back to GET, DES3 and SHA-1 for a server that offers no capabilities', async () => {
    const { publicKey, csrDer, keyPkcs8 } = request('device-legacy', scep.challenge);
    const sent: string[] = [];
    let message = Buffer.alloc(0);
    const legacy: ScepTransport = {
      async request(method, url, body) {
        const res = await httpTransport.request(method, url, body);
        const params = new URL(url).searchParams;
        sent.push(method);
        if (params.get('operation') === 'PKIOperation') message = Buffer.from(params.get('message') ?? '', 'base64');
        return params.get('operation') === 'GetCACaps' ? { ...res, body: Buffer.alloc(0) } : res;
      },
    };
    const { certificate } = await enroll({ url: scep.url, csrDer, keyPkcs8, transport: legacy });
    expect(sent).toEqual(['GET', 'GET', 'GET']);
    // The algorithm identifiers travel in clear: des-ede3-cbc for the envelope, sha1 for the signature.
    expect(message.includes(Buffer.from('06082a864886f70d0307', 'hex'))).toBe(true);
    expect(message.includes(Buffer.from('06052b0e03021a', 'hex'))).toBe(true);
    expect(new X509Certificate(certificate).publicKey.equals(publicKey)).toBe(true);
  });

  it('a wrong challenge is rejected by the server (badRequest)', async () => {
    const { csrDer, keyPkcs8 } = request('device-2', 'not-the-challenge');
    const e = await scepError(enroll({ url: scep.url, csrDer, keyPkcs8 }));
    expect(e.kind).toBe('rejected');
    expect(e.message).toContain('badRequest');
  });

  it('a CertRep whose signature does not verify is refused', async () => {
    const { csrDer, keyPkcs8 } = request('device-tampered', scep.challenge);
    const tampering: ScepTransport = {
      async request(method, url, body) {
        const res = await httpTransport.request(method, url, body);
        if (new URL(url).searchParams.get('operation') !== 'PKIOperation') return res;
        const altered = Buffer.from(res.body);
        altered[altered.length - 1]! ^= 1; // the last byte belongs to the signerInfo's signature
        return { ...res, body: altered };
      },
    };
    const e = await scepError(enroll({ url: scep.url, csrDer, keyPkcs8, transport: tampering }));
    expect(e.kind).toBe('protocol');
    expect(e.message).toContain('signature does not verify');
  });

  it('never encrypts to, nor trusts, an RA certificate the pinned CA did not sign', async () => {
    // A man in the middle adds his own "RA" to GetCACert: the challenge must not be encrypted to it.
    const rogueKey = join(dir, 'rogue.key');
    const roguePem = join(dir, 'rogue.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', rogueKey, '-out', roguePem, '-subj', '/CN=Rogue RA', '-days', '1', '-addext', 'basicConstraints=CA:FALSE', '-addext', 'keyUsage=keyEncipherment,digitalSignature'], { stdio: 'ignore' });
    const p7 = forge.pkcs7.createSignedData();
    p7.addCertificate(forge.pki.certificateFromPem(scep.caPem));
    p7.addCertificate(forge.pki.certificateFromPem(execFileSync('cat', [roguePem], { encoding: 'utf8' })));
    const bundle = Buffer.from(forge.asn1.toDer(p7.toAsn1()).getBytes(), 'binary');
    const mitm: ScepTransport = {
      async request(method, url, body) {
        if (new URL(url).searchParams.get('operation') === 'GetCACert') return { status: 200, contentType: 'application/x-x509-ca-ra-cert', body: bundle };
        return httpTransport.request(method, url, body);
      },
    };
    const r = request('mitm-check', scep.challenge);
    // The real server can decrypt it: the request went to the pinned CA, not the rogue RA.
    const { certificate } = await enroll({ url: scep.url, csrDer: r.csrDer, keyPkcs8: r.keyPkcs8, caFingerprint: scep.caFingerprint, transport: mitm });
    expect(new X509Certificate(certificate).publicKey.equals(r.publicKey)).toBe(true);
  });

  it('a wrong CA pin fails before the request is sent', async () => {
    const { csrDer, keyPkcs8 } = request('device-3', scep.challenge);
    const transport = recording();
    const e = await scepError(enroll({ url: scep.url, csrDer, keyPkcs8, caFingerprint: 'ab'.repeat(32), transport }));
    expect(e.kind).toBe('pin');
    expect(e.message).toContain(scep.caFingerprint);
    expect(e.message).toContain('ab'.repeat(32));
    expect(transport.operations).not.toContain('PKIOperation');
  });

  it('a closed port is unreachable', async () => {
    const { csrDer, keyPkcs8 } = request('device-4', scep.challenge);
    const e = await scepError(enroll({ url: `http://127.0.0.1:${await freePort()}/scep`, csrDer, keyPkcs8 }));
    expect(e.kind).toBe('unreachable');
    expect(e.message).toContain('connection refused');
  });

  it('the reference scepclient enrols against the same server', () => {
    const work = mkdtempSync(join(dir, 'scepclient-'));
    // scepclient writes (and reuses) csr.pem in its working directory.
    execFileSync('scepclient', ['-server-url', scep.url, '-challenge', scep.challenge, '-cn', 'reference', '-private-key', join(work, 'key.pem'), '-certificate', join(work, 'cert.pem'), '-ca-fingerprint', scep.caFingerprint], { cwd: work, stdio: 'pipe' });
    expect(execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(work, 'cert.pem')], { encoding: 'utf8' })).toContain('OK');
  });
});
