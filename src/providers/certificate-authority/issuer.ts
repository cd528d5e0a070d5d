// Issuing one identity certificate through a CertificateAuthority, whatever its type: Local and
// Intermediate CAs sign with their key, a SCEP CA enrolls, a PublicCloud CA orders over ACME.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { parseDuration } from '../../api/duration.js';
import { limiter } from '../../util/limit.js';
import type { ProviderContext } from '../../engine/provider.js';
import { acmeIssue } from '../../pki/acme.js';
import { certificateTemplate, certificationRequest, KeyUsage, serialNumber, subjectKeyIdOf, subjectOf, toPem, CLOCK_SKEW_MS, type San, type TemplateInput } from '../../pki/certificate.js';
import { issueMany } from '../../pki/issue-many.js';
import { makeKey, makeKeyDer, pkcs8, privateKey, publicKeySha256 } from '../../pki/keys.js';
import { enroll } from '../../pki/scep.js';
import { readCertificates } from '../../pki/x509.js';
import { readyOf } from '../../engine/status.js';
import type { StoredRecord } from '../../store/types.js';
import { acmeAccountInput, scepPin, scepTransport } from './servers.js';

/** What the certificates issued together share. */
export interface IssueProfile {
  keyAlgorithm: string;
  validity: string;
  extendedKeyUsage: string[];
}

/** What each certificate says of its user. */
export interface IssueRequest {
  /** Encoded subject Name (it may be encoded only when read, and fail then: that request fails). */
  subject: Buffer;
  subjectAltNames: San[];
}

export interface Issued {
  certificate: Buffer;
  /** The private key, PKCS#8 DER. */
  pkcs8: Buffer;
  /** PEM: the CAs above it, when they come with it (ACME). */
  chain?: string;
  /** Known when we signed it ourselves; otherwise read from the certificate. */
  facts?: { serial: string; notBefore: string; notAfter: string };
}

export interface Issuer {
  /** Identifies what signs: when it changes, what it signed is issued again. */
  key: string;
  /** The CA certificate and those above it (DER), for the files users export. */
  chain: Buffer[];
  /** When the CA certificate expires, if known: what it signs cannot outlive it. */
  notAfter?: number;
  /** Issues each request, calling `each` with its index as each is issued or fails, in no set order. */
  issueAll(profile: IssueProfile, requests: IssueRequest[], each: (index: number, result: Issued | Error) => void): Promise<void>;
}

/** How many certificates issue at once when each waits on a server or the thread pool. */
const ISSUE_CONCURRENCY = 16;

/** issueAll for issuers that issue one request at a time. */
function oneByOne(issue: (p: IssueProfile, r: IssueRequest) => Promise<Issued>): Issuer['issueAll'] {
  return async (profile, requests, each) => {
    const run = limiter(ISSUE_CONCURRENCY);
    await Promise.all(requests.map((r, i) => run(() => issue(profile, r).then((x) => each(i, x), (e: unknown) => each(i, e instanceof Error ? e : new Error(String(e)))))));
  };
}

/** Port on which mdmops answers ACME http-01 challenges while it orders certificates. */
export const http01Port = () => Number(process.env.MDMOPS_ACME_HTTP01_PORT ?? 80);

/** The CA certificate and those above it, as status publishes them (DER). */
export function chainOf(status: Record<string, unknown>): Buffer[] {
  return [status.certificate, status.chain].filter((p): p is string => typeof p === 'string').flatMap((p) => readCertificates(Buffer.from(p)).map((c) => c.der));
}

export interface Signer {
  name: Buffer;
  key: KeyObject;
  /** SubjectPublicKeyInfo DER. */
  publicKey: Buffer;
  keyId?: Buffer;
  chain: Buffer[];
  notAfter: number;
}

/** What a Local or Intermediate CA signs with: its key, and its certificate's name, key id and expiry. */
export async function openSigner(ctx: ProviderContext, record: StoredRecord): Promise<Signer | undefined> {
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
export const chainPemOf = (status: Record<string, unknown>): string => [status.certificate, status.chain].filter((p): p is string => typeof p === 'string').join('');

/** What deciding a Local or Intermediate CA's work takes, without its key. */
export interface SignerFacts {
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
export async function signerFacts(ctx: ProviderContext, record: StoredRecord): Promise<SignerFacts | undefined> {
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

/** The CA as an issuer, or why it cannot issue now. */
export async function openIssuer(ctx: ProviderContext, tenant: string, name: string): Promise<Issuer | { waiting: string }> {
  const id = { tenant, kind: 'CertificateAuthority', name };
  const record = await ctx.record(id);
  const ready = readyOf(record?.status);
  if (!record || ready?.status !== 'True') return { waiting: `CertificateAuthority/${name} is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}` };
  const status = record.status;
  const spec = record.spec;

  if (spec.type === 'Local' || spec.type === 'Intermediate') {
    // Every plan asks every configuration's CA: its key is opened only when there is something to issue.
    const facts = await signerFacts(ctx, record);
    if (!facts) return { waiting: `CertificateAuthority/${name} has no key or certificate yet` };
    return {
      key: facts.publicKeySha256,
      get chain() {
        return chainOf(status);
      },
      notAfter: facts.notAfter,
      async issueAll(profile, requests, each) {
        if (!requests.length) return;
        const signer = await openSigner(ctx, record);
        if (!signer) throw new Error(`CertificateAuthority/${name} has no key or certificate`);
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

  if (spec.type === 'ScepOnPremises') {
    const chain = chainOf(status);
    const challenge = await ctx.blob(id, 'challenge');
    if (!challenge || !chain[0]) return { waiting: `CertificateAuthority/${name} has no challenge or CA certificate yet` };
    return {
      key: String(status.fingerprintSha256),
      chain,
      issueAll: oneByOne(async (p, r) => {
        const key = await makeKey(p.keyAlgorithm);
        const csrDer = await certificationRequest({ subject: r.subject, key, challengePassword: challenge.toString(), subjectAltNames: r.subjectAltNames, extendedKeyUsage: p.extendedKeyUsage });
        const { certificate } = await enroll({ url: String(spec.url), csrDer, keyPkcs8: pkcs8(key), caFingerprint: scepPin(spec, status), transport: scepTransport(ctx, { ...id, spec }) });
        return { certificate, pkcs8: pkcs8(key) };
      }),
    };
  }

  if (spec.type === 'PublicCloud') {
    const accountKey = await ctx.blob(id, 'account-key');
    if (!accountKey) return { waiting: `CertificateAuthority/${name} has no ACME account yet` };
    const account = acmeAccountInput(spec, ctx.outbound, accountKey);
    return {
      key: `acme:${spec.directoryUrl}`,
      chain: [],
      issueAll: oneByOne(async (p, r) => {
        const dnsNames = r.subjectAltNames.filter((s) => s.type === 'DNS').map((s) => s.value);
        if (!dnsNames.length) throw new Error('an ACME CA certifies DNS names only: add a subject alternative name of type DNS');
        const key = await makeKey(p.keyAlgorithm);
        const csrDer = await certificationRequest({ subject: r.subject, key, subjectAltNames: r.subjectAltNames.filter((s) => s.type === 'DNS') });
        const { chainPem } = await acmeIssue({ ...account, csrDer, dnsNames, http01: { port: http01Port() } });
        const [leaf, ...above] = readCertificates(Buffer.from(chainPem));
        return { certificate: leaf!.der, chain: above.map((c) => toPem(c.der)).join(''), pkcs8: pkcs8(key) };
      }),
    };
  }
  return { waiting: `a ${spec.type} CA issues its certificates through its own service; mdmops does not issue them` };
}
