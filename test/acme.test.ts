// The ACME client against a real Pebble CA: accounts, external account binding, and issuance with
// real http-01 validation (Pebble resolves every name to 127.0.0.1 and fetches the token from us).
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AcmeError, acmeAccount, acmeIssue, type AcmeAccountInput } from '../src/pki/acme.js';
import { startPebble, type PebbleServer } from './servers/pebble.js';
import { freePort } from './servers/ports.js';

const dir = mkdtempSync(join(tmpdir(), 'mdmops-acme-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ecKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** A CSR as an administrator makes one: openssl, for an EC P-256 key, the names as SANs. */
function csrDer(names: string[]): Buffer {
  const keyFile = join(dir, `csr-key-${names[0]}.pem`);
  writeFileSync(keyFile, ecKeyPem());
  return execFileSync('openssl', [
    'req', '-new', '-key', keyFile, '-outform', 'DER', '-subj', `/CN=${names[0]}`,
    '-addext', `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}`,
  ]);
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

async function rejection(p: Promise<unknown>): Promise<AcmeError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(AcmeError);
  return e as AcmeError;
}

describe('acme client against pebble', () => {
  let pebble: PebbleServer;
  let base: AcmeAccountInput;
  beforeAll(async () => {
    // authzReuse 100: a second order for the same names needs no validation (the client must notice).
    pebble = await startPebble({ authzReuse: 100 });
    base = { directoryUrl: pebble.directoryUrl, email: 'pki@example.test', termsOfServiceAgreed: true, accountKeyPem: ecKeyPem(), caPem: pebble.caPem };
  });
  afterAll(() => pebble?.stop());

  it('creates an account, and finds the same one again', async () => {
    const first = await acmeAccount(base);
    expect(first.accountUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\//);
    const second = await acmeAccount({ ...base, email: 'other@example.test' });
    expect(second.accountUrl).toBe(first.accountUrl);
  });

  it('takes an RSA account key', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { accountUrl } = await acmeAccount({ ...base, accountKeyPem: rsa });
    expect(accountUrl).toMatch(/^https:/);
  });

  it('issues for two names after real http-01 validation, with a chain that verifies to the root', async () => {
    const names = ['device-1.example.test', 'alice.example.test'];
    const { chainPem } = await acmeIssue({ ...base, csrDer: csrDer(names), dnsNames: names, http01: { port: pebble.http01Port, host: '127.0.0.1' } });

    const chain = splitPem(chainPem);
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const root = splitPem(await pebble.rootPem())[0]!;
    writeFileSync(join(dir, 'root.pem'), root);
    writeFileSync(join(dir, 'intermediates.pem'), chain.slice(1).join(''));
    writeFileSync(join(dir, 'leaf.pem'), chain[0]!);
    const verify = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(dir, 'intermediates.pem'), join(dir, 'leaf.pem')], { encoding: 'utf8' });
    expect(verify.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, 'leaf.pem'), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toContain('DNS:device-1.example.test');
    expect(text).toContain('DNS:alice.example.test');

    // Same names again: Pebble reuses the valid authorizations, so no responder may be started
    // (the port is taken here, which would fail the order if the client tried).
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(pebble.http01Port, '127.0.0.1', resolve));
    try {
      const again = await acmeIssue({ ...base, csrDer: csrDer(names), dnsNames: names, http01: { port: pebble.http01Port, host: '127.0.0.1' } });
      expect(splitPem(again.chainPem)[0]).not.toBe(chain[0]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('says the CA found http-01 invalid when nothing answers where the CA looks', async () => {
    const names = ['nobody-home.example.test'];
    const wrongPort = await freePort();
    const e = await rejection(acmeIssue({ ...base, csrDer: csrDer(names), dnsNames: names, http01: { port: wrongPort, host: '127.0.0.1' } }));
    expect(e.kind).toBe('rejected');
    expect(e.message).toMatch(/http-01 for nobody-home\.example\.test invalid/);
    // The responder is closed after a failure too: its port can be taken again.
    const again: Server = createServer();
    await new Promise<void>((resolve, reject) => { again.once('error', reject); again.listen(wrongPort, '127.0.0.1', resolve); });
    await new Promise((resolve) => again.close(resolve));
  });

  it('relays the CA\'s refusal of a CSR that does not match the order', async () => {
    const names = ['device-2.example.test'];
    const e = await rejection(acmeIssue({ ...base, csrDer: csrDer(['someone-else.example.test']), dnsNames: names, http01: { port: pebble.http01Port, host: '127.0.0.1' } }));
    expect(e.kind).toBe('rejected');
    expect(e.message).toMatch(/^the CA rejected finalize: .*device-2\.example\.test/);
  });

  it('fails as unreachable on a closed port, at once', async () => {
    const started = Date.now();
    const e = await rejection(acmeAccount({ ...base, directoryUrl: `https://127.0.0.1:${await freePort()}/dir` }));
    expect(e.kind).toBe('unreachable');
    expect(e.message).toMatch(/ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('fails as unreachable, saying so, when the CA\'s TLS certificate is not trusted', async () => {
    const e = await rejection(acmeAccount({ ...base, caPem: undefined }));
    expect(e.kind).toBe('unreachable');
    expect(e.message).toMatch(/not trusted/);
  });
});

describe('acme client against pebble requiring external account binding', () => {
  let pebble: PebbleServer;
  let base: AcmeAccountInput;
  beforeAll(async () => {
    pebble = await startPebble({ eabRequired: true });
    base = { directoryUrl: pebble.directoryUrl, email: 'pki@example.test', termsOfServiceAgreed: true, accountKeyPem: ecKeyPem(), caPem: pebble.caPem };
  });
  afterAll(() => pebble?.stop());

  it('is rejected without a binding, and says so', async () => {
    const e = await rejection(acmeAccount(base));
    expect(e.kind).toBe('rejected');
    expect(e.message).toMatch(/requires an external account binding/);
  });

  it('is rejected with a wrong HMAC key, which the message does not show', async () => {
    const wrong = Buffer.alloc(32, 7).toString('base64url');
    const e = await rejection(acmeAccount({ ...base, accountKeyPem: ecKeyPem(), externalAccountBinding: { keyId: pebble.eab.keyId, hmacKey: wrong } }));
    expect(e.kind).toBe('rejected');
    expect(e.message).not.toContain(wrong);
    expect(e.message).not.toContain('PRIVATE KEY');
  });

  it('creates the account with the binding, and finds it again', async () => {
    const input = { ...base, externalAccountBinding: pebble.eab };
    const first = await acmeAccount(input);
    expect(first.accountUrl).toMatch(/^https:/);
    expect((await acmeAccount(input)).accountUrl).toBe(first.accountUrl);
    // An existing account is found by its key alone.
    expect((await acmeAccount(base)).accountUrl).toBe(first.accountUrl);
  });
});
