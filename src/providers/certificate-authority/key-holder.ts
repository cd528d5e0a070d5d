// What Local and Intermediate CAs share (local.ts, intermediate.ts): a key pair sealed in the tenant
// store and a CA certificate that is self-signed (Local), signed by another CertificateAuthority
// (issuerRef), or signed by the customer's CA from the CSR status publishes (externalSigner); they
// issue by signing with that key.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Desired } from '../../config/desired.js';
import type { Made, Notice, Observed, ProviderContext } from '../../engine/provider.js';
import { parseDuration } from '../../api/duration.js';
import { CA_CERTIFICATE_POLICIES, EXPIRY_POLICIES, firstTrigger, type RenewalInput } from '../../pki/renewal.js';
import { certificateTemplate, certificationRequest, CLOCK_SKEW_MS, issueCertificate, KeyUsage, serialNumber, subjectKeyIdOf, subjectOf, toPem, type TemplateInput } from '../../pki/certificate.js';
import { issueMany } from '../../pki/issue-many.js';
import { makeKey, makeKeyDer, pkcs8, privateKey, publicKeySha256 } from '../../pki/keys.js';
import { subjectName } from '../../pki/name.js';
import { certificateInfo, readCertificates } from '../../pki/x509.js';
import type { StoredRecord } from '../../store/types.js';
import { dependencyReady } from '../record.js';
import { TerminalError } from '../../util/errors.js';
import { chainOf, oneByOne, type Issuer } from './issuer.js';
import type { CaDesired, CaRecord, CaSpec } from './strategy.js';

/**
 * A Local or Intermediate CA's spec with the fields those types always have: the schema requires
 * subject and fills keyAlgorithm, validity and renewBefore for them.
 */
function keyHolderSpec(spec: CaSpec) {
  const { subject, keyAlgorithm, validity, renewBefore } = spec;
  if (!subject || !keyAlgorithm || !validity || !renewBefore) throw new Error(`a ${spec.type} CA without subject, keyAlgorithm, validity or renewBefore: its spec was not validated`);
  return { ...spec, subject, keyAlgorithm, validity, renewBefore };
}
type KeyHolderSpec = ReturnType<typeof keyHolderSpec>;

interface Signer {
  name: Buffer;
  key: KeyObject;
  /** SubjectPublicKeyInfo DER. */
  publicKey: Buffer;
  keyId?: Buffer;
  chain: Buffer[];
  notAfter: number;
}

/** What a Local or Intermediate CA signs with: its key, and its certificate's name, key id and expiry. */
async function openSigner(ctx: ProviderContext, record: StoredRecord): Promise<Signer | undefined> {
  const sealed = await ctx.blob({ tenant: record.tenant, kind: record.kind, name: record.name }, 'private-key');
  const chain = chainOf(record.status);
  if (!sealed || !chain[0]) return undefined;
  const key = privateKey(sealed);
  return {
    name: subjectOf(chain[0]),
    key,
    publicKey: createPublicKey(key).export({ type: 'spki', format: 'der' }),
    keyId: subjectKeyIdOf(chain[0]),
    chain,
    notAfter: Date.parse(new X509Certificate(chain[0]).validTo),
  };
}

/** The CA certificate and those above it as status publishes them: PEM, as toPem wrote it (status is written by mdmops only). */
const chainPemOf = (status: Record<string, unknown>): string => [status.certificate, status.chain].filter((p): p is string => typeof p === 'string').join('');

/** What deciding a Local or Intermediate CA's work takes, without its key. */
interface SignerFacts {
  /** SHA-256 of its public key: what its identity certificates record as issuerKey. */
  publicKeySha256: string;
  /** Its certificate and those above it, PEM (see chainPemOf). */
  chainPem: string;
  /** When its certificate expires. */
  notAfter: number;
}

/**
 * What a Local or Intermediate CA holds, read from status (written when its key and certificate
 * were made), so that observing it opens no key and parses no certificate. A record lacking a
 * field has it computed from the key or certificate. Undefined while it has no key or certificate.
 */
async function signerFacts(ctx: ProviderContext, record: StoredRecord): Promise<SignerFacts | undefined> {
  const id = { tenant: record.tenant, kind: record.kind, name: record.name };
  const status = record.status;
  if (typeof status.certificate !== 'string' || !(await ctx.store.listBlobs(id)).includes('private-key')) return undefined;
  let key = status.publicKeySha256;
  if (typeof key !== 'string') {
    const sealed = await ctx.blob(id, 'private-key');
    if (!sealed) return undefined;
    key = publicKeySha256(privateKey(sealed));
  }
  const notAfter = typeof status.notAfter === 'string' ? Date.parse(status.notAfter) : Date.parse(new X509Certificate(chainOf(status)[0]!).validTo);
  return { publicKeySha256: key as string, chainPem: chainPemOf(status), notAfter };
}

const issuerId = (d: CaDesired) => d.spec.issuerRef && { tenant: d.id.tenant, kind: 'CertificateAuthority', name: d.spec.issuerRef.name };

/** What status publishes of a CA certificate. */
function published(der: Buffer, chain: Buffer[]) {
  const info = certificateInfo(der);
  return {
    certificate: toPem(der),
    chain: chain.length ? chain.map((c) => toPem(c)).join('') : undefined,
    fingerprintSha256: info.fingerprintSha256,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
  };
}

/** Why the CA certificate must be (re)issued now, if it must (pki/renewal.ts): what its status and its issuer's say, gathered. Pure. */
export function certificateDue(status: Record<string, unknown>, spec: Pick<KeyHolderSpec, 'validity' | 'renewBefore'>, issuer: { chain: string; notAfter: number } | undefined, now: number): string | undefined {
  const held = typeof status.certificate === 'string' ? { notBefore: Date.parse(String(status.notBefore)), notAfter: Date.parse(String(status.notAfter)) } : undefined;
  const input: RenewalInput = { now, held, issuerChanged: issuer !== undefined && status.chain !== issuer.chain, validity: spec.validity, renewBefore: spec.renewBefore, issuerNotAfter: issuer?.notAfter };
  return firstTrigger(CA_CERTIFICATE_POLICIES, input)?.message;
}

/** The CA that signs this intermediate, once it is Ready: its record, and what its status says (its key is opened only to sign). */
async function issuerOf(ctx: ProviderContext, d: CaDesired): Promise<{ record: StoredRecord; facts: SignerFacts } | undefined> {
  const id = issuerId(d);
  if (!id || (await dependencyReady(ctx, id, 'Issuer'))) return undefined;
  const record = await ctx.record(id);
  const facts = record && (await signerFacts(ctx, record));
  return facts && { record, facts };
}

const issuerFacts = (issuer: { facts: SignerFacts } | undefined) => issuer && { chain: issuer.facts.chainPem, notAfter: issuer.facts.notAfter };

export async function keyHolderReconcile(ctx: ProviderContext, d: CaDesired, record: CaRecord | undefined): Promise<Made> {
  const spec = keyHolderSpec(d.spec);
  let key: KeyObject;
  const blobs: Made['blobs'] = [];
  let status: Record<string, unknown> = record?.status ?? {};
  if (!record) {
    key = await makeKey(spec.keyAlgorithm);
    blobs.push({ purpose: 'private-key', value: pkcs8(key) });
    status = { publicKeySha256: publicKeySha256(key) };
  } else {
    const sealed = await ctx.blob(d.id, 'private-key');
    if (!sealed) throw new TerminalError('KeyMissing', 'the private key is missing from the tenant store; replace the CA (change its subject or key algorithm) to make a new one');
    key = privateKey(sealed);
  }
  const made = (more: Record<string, unknown>): Made => ({ blobs, status: { ...(record ? {} : status), ...more } });

  if (spec.externalSigner) {
    const csr = typeof status.csr === 'string' ? {} : { csr: toPem(await certificationRequest({ subject: subjectName(spec.subject), key, ca: true }), 'CERTIFICATE REQUEST') };
    const signed = externalCertificate(d, String(status.publicKeySha256));
    if (!signed || 'error' in signed || (status.fingerprintSha256 && certificateInfo(signed.der).fingerprintSha256 === status.fingerprintSha256)) return made(csr);
    return made({ ...csr, ...published(signed.der, signed.chain) });
  }

  const issuer = issuerId(d) ? await issuerOf(ctx, d) : undefined;
  if (issuerId(d) && !issuer) return made({});
  if (!certificateDue(status, spec, issuerFacts(issuer), Date.now())) return made({});
  const signer = issuer && (await openSigner(ctx, issuer.record));
  if (issuer && !signer) return made({});
  const now = Date.now();
  // Validity counts from now, as for the certificates it issues: the backdating is extra.
  let notAfter = now + parseDuration(spec.validity);
  // An intermediate cannot usefully outlive the CA that signed it.
  if (signer) notAfter = Math.min(notAfter, signer.notAfter);
  const subject = subjectName(spec.subject);
  const der = await issueCertificate({
    subject,
    publicKey: createPublicKey(key),
    issuer: signer ?? { name: subject, key, publicKey: createPublicKey(key) },
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(notAfter),
    ca: {},
    keyUsage: [KeyUsage.digitalSignature, KeyUsage.keyCertSign, KeyUsage.cRLSign],
  });
  return made(published(der, signer?.chain ?? []));
}

/** The committed signed certificate and chain of an external signer, checked against our key. */
export function externalCertificate(d: Desired, keySha256: string): { der: Buffer; chain: Buffer[] } | { error: string } | undefined {
  const file = d.files['spec.externalSigner.signedCertificate'];
  if (!file) return undefined;
  const where = `spec.externalSigner.signedCertificate (${file.name})`;
  const [cert, ...extra] = readCertificates(file.bytes);
  const chainFile = d.files['spec.externalSigner.chain'];
  const chain = [...extra, ...(chainFile ? readCertificates(chainFile.bytes) : [])];
  const x = new X509Certificate(cert!.der);
  if (publicKeySha256(x.publicKey) !== keySha256) return { error: `${where} was not made from this CA's CSR: its public key does not match the CA's key (have the CSR in status.csr signed)` };
  if (!x.ca) return { error: `${where} is not a CA certificate (basicConstraints CA:TRUE is missing)` };
  if (cert!.version !== 3) return { error: `${where} is an X.509 v${cert!.version} certificate; only v3 is accepted` };
  let child = x;
  for (const link of chain) {
    const parent = new X509Certificate(link.der);
    if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) return { error: `${where}: "${child.subject.replace(/\n/g, ', ')}" is not signed by "${parent.subject.replace(/\n/g, ', ')}" in the chain` };
    child = parent;
  }
  if (!child.checkIssued(child) || !child.verify(child.publicKey)) {
    return { error: `${where}: the chain does not reach a root; its last certificate "${child.subject.replace(/\n/g, ', ')}" is issued by "${child.issuer.replace(/\n/g, ', ')}" (add the missing certificates to spec.externalSigner.chain)` };
  }
  return { der: cert!.der, chain: chain.map((c) => c.der) };
}

export async function keyHolderObserve(ctx: ProviderContext, d: CaDesired, status: Record<string, unknown>, record: CaRecord | undefined): Promise<Observed> {
  if (record && !(await ctx.store.listBlobs(d.id)).includes('private-key')) {
    const message = 'the private key is missing from the tenant store; replace the CA (change its subject or key algorithm) to make a new one';
    return { ready: { status: false, reason: 'KeyMissing', message }, notices: [{ reason: 'KeyMissing', severity: 'Error', message }] };
  }
  const spec = keyHolderSpec(d.spec);
  if (spec.externalSigner) {
    const signed = status.publicKeySha256 ? externalCertificate(d, String(status.publicKeySha256)) : undefined;
    if (signed && 'error' in signed) return { ready: { status: false, reason: 'SignedCertificateInvalid', message: signed.error }, notices: [{ reason: 'SignedCertificateInvalid', severity: 'Error', message: signed.error }] };
    if (!signed || typeof status.certificate !== 'string') {
      const message = 'waiting for the signed certificate: have your CA sign the CSR in status.csr (mdmops status CertificateAuthority/' + d.id.name + ' -o yaml), then commit it to spec.externalSigner.signedCertificate with its chain';
      return { ready: { status: false, reason: 'AwaitingSignature', message }, notices: [{ reason: 'AwaitingSignature', severity: 'Info', message }] };
    }
  }
  const issuer = issuerId(d);
  if (issuer && typeof status.certificate !== 'string') return (await dependencyReady(ctx, issuer, 'Issuer')) ?? { ready: { status: false, reason: 'CertificatePending', message: 'the CA certificate is issued at the next apply' } };
  if (typeof status.certificate !== 'string') return { ready: { status: false, reason: 'CertificatePending', message: 'the CA certificate is issued at apply' } };
  // Local and issuerRef CAs renew themselves; an externally signed one needs its administrator.
  const expiry = firstTrigger(EXPIRY_POLICIES, { now: Date.now(), notAfter: Date.parse(String(status.notAfter)), what: 'the CA certificate', warnBeforeMs: spec.externalSigner ? parseDuration(spec.renewBefore) : 0 });
  if (expiry?.reason === 'CertificateExpired') return { ready: { status: false, reason: expiry.reason, message: expiry.message }, notices: [{ reason: expiry.reason, severity: 'Error', message: expiry.message }] };
  const notices: Notice[] = expiry ? [{ reason: expiry.reason, severity: 'Warning', message: `${expiry.message}: have a new one signed` }] : [];
  return { ready: { status: true, reason: 'CertificateReady', message: `CA certificate valid until ${status.notAfter}` }, notices };
}

export async function keyHolderPending(ctx: ProviderContext, d: CaDesired, record: CaRecord | undefined): Promise<string[]> {
  if (!record) return [];
  const spec = keyHolderSpec(d.spec);
  const status = record.status;
  if (spec.externalSigner) {
    const signed = status.publicKeySha256 ? externalCertificate(d, String(status.publicKeySha256)) : undefined;
    return signed && !('error' in signed) && certificateInfo(signed.der).fingerprintSha256 !== status.fingerprintSha256 ? ['install the signed CA certificate'] : [];
  }
  const issuer = issuerId(d) ? await issuerOf(ctx, d) : undefined;
  if (issuerId(d) && !issuer) return [];
  const why = certificateDue(status, spec, issuerFacts(issuer), Date.now());
  return why ? [`issue the CA certificate: ${why}`] : [];
}

/** A Local or Intermediate CA as an issuer: it signs with its key. */
export async function signingIssuer(ctx: ProviderContext, record: CaRecord): Promise<Issuer | { waiting: string }> {
  // Every plan asks every configuration's CA: its key is opened only when there is something to issue.
  const facts = await signerFacts(ctx, record);
  if (!facts) return { waiting: `CertificateAuthority/${record.name} has no key or certificate yet` };
  return {
    key: facts.publicKeySha256,
    get chain() {
      return chainOf(record.status);
    },
    notAfter: facts.notAfter,
    async issueAll(profile, requests, each) {
      if (!requests.length) return;
      const signer = await openSigner(ctx, record);
      if (!signer) throw new Error(`CertificateAuthority/${record.name} has no key or certificate`);
      const now = Date.now();
      const [family, size] = profile.keyAlgorithm.split('-');
      const input: TemplateInput = {
        issuer: signer,
        notBefore: new Date(now - CLOCK_SKEW_MS),
        notAfter: new Date(Math.min(now + parseDuration(profile.validity), signer.notAfter)),
        keyUsage: family === 'RSA' ? [KeyUsage.digitalSignature, KeyUsage.keyEncipherment] : [KeyUsage.digitalSignature, KeyUsage.keyAgreement],
        extendedKeyUsage: profile.extendedKeyUsage,
      };
      const dates = { notBefore: input.notBefore.toISOString(), notAfter: input.notAfter.toISOString() };
      const factsOf = (serial: Buffer) => ({ serial: serial.toString('hex').toUpperCase(), ...dates });
      if (family === 'ECDSA' && signer.key.asymmetricKeyType === 'ec') {
        // Made and signed in slices on this thread (issue-many.ts): EC keys and signatures cost
        // microseconds. An RSA CA's signatures take a millisecond or more: on the thread pool, below.
        return issueMany(input, size!, requests, (i, r) => each(i, 'error' in r ? new Error(r.error) : { certificate: r.certificate, pkcs8: r.pkcs8, facts: factsOf(r.serial) }));
      }
      // RSA keys take long to make, and RSA CAs long to sign: each on the thread pool.
      const template = certificateTemplate(input);
      return oneByOne(async (_, r) => {
        const { pkcs8: key, spki } = await makeKeyDer(profile.keyAlgorithm);
        const serial = serialNumber();
        const certificate = await template.issue({ subject: r.subject, publicKey: spki, serial, subjectAltNames: r.subjectAltNames });
        return { certificate, pkcs8: key, facts: factsOf(serial) };
      })(profile, requests, each);
    },
  };
}

/** Replacing the CA makes a new key pair: what it signed is issued again. */
export async function keyPairImpact(ctx: ProviderContext, d: CaDesired, record: CaRecord): Promise<string[]> {
  const issued = (await ctx.store.listCertificateFacts({ tenant: d.id.tenant })).filter((c) => c.issuerKey === record.status.publicKeySha256).length;
  return [`a new key pair replaces the current one: ${issued} identity certificate${issued === 1 ? '' : 's'} it issued ${issued === 1 ? 'is' : 'are'} issued again, and intermediates it signed are signed again`];
}
