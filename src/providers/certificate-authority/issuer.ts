// Issuing one identity certificate through a CertificateAuthority, whatever its type: Local and
// Intermediate CAs sign with their key, a SCEP CA enrolls, a PublicCloud CA orders over ACME.
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { parseDuration } from '../../api/duration.js';
import type { ProviderContext } from '../../engine/provider.js';
import { acmeIssue } from '../../pki/acme.js';
import { certificateTemplate, certificationRequest, KeyUsage, serialNumber, subjectKeyIdOf, subjectOf, toPem, CLOCK_SKEW_MS, type San } from '../../pki/certificate.js';
import { makeKey, makeKeyDer, pkcs8, privateKey, publicKeySha256 } from '../../pki/keys.js';
import { enroll } from '../../pki/scep.js';
import { readCertificates } from '../../pki/x509.js';
import { readyOf } from '../../engine/status.js';
import type { StoredRecord } from '../../store/types.js';
import { acmeAccountInput, scepTransport } from './servers.js';

export interface IssueRequest {
  /** Encoded subject Name. */
  subject: Buffer;
  subjectAltNames: San[];
  extendedKeyUsage: string[];
  keyAlgorithm: string;
  validity: string;
}

export interface Issued {
  certificate: Buffer;
  /** The private key, PKCS#8 DER. */
  pkcs8: Buffer;
  /** PEM: the CAs above it, when they come with it (ACME). */
  chain?: string;
  /** Known when we signed it ourselves; otherwise read from the certificate. */
  facts?: { serial: string; notBefore: Date; notAfter: Date };
}

export interface Issuer {
  /** Identifies what signs: when it changes, what it signed is issued again. */
  key: string;
  /** The CA certificate and those above it (DER), for the files users export. */
  chain: Buffer[];
  /** When the CA certificate expires, if known: what it signs cannot outlive it. */
  notAfter?: number;
  issue(request: IssueRequest): Promise<Issued>;
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

/** The CA as an issuer, or why it cannot issue now. */
export async function openIssuer(ctx: ProviderContext, tenant: string, name: string): Promise<Issuer | { waiting: string }> {
  const id = { tenant, kind: 'CertificateAuthority', name };
  const record = await ctx.record(id);
  const ready = readyOf(record?.status);
  if (!record || ready?.status !== 'True') return { waiting: `CertificateAuthority/${name} is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}` };
  const status = record.status;
  const spec = record.spec;

  if (spec.type === 'Local' || spec.type === 'Intermediate') {
    const signer = await openSigner(ctx, record);
    if (!signer) return { waiting: `CertificateAuthority/${name} has no key or certificate yet` };
    // Certificates issued in one round share their validity, so requests alike share a template.
    const now = Date.now();
    const templates = new Map<string, ReturnType<typeof certificateTemplate>>();
    const templateFor = (r: IssueRequest) => {
      const key = `${r.keyAlgorithm}|${r.validity}|${r.extendedKeyUsage.join(',')}`;
      let t = templates.get(key);
      if (!t) {
        t = certificateTemplate({
          issuer: signer,
          notBefore: new Date(now - CLOCK_SKEW_MS),
          notAfter: new Date(Math.min(now + parseDuration(r.validity), signer.notAfter)),
          keyUsage: r.keyAlgorithm.startsWith('RSA') ? [KeyUsage.digitalSignature, KeyUsage.keyEncipherment] : [KeyUsage.digitalSignature, KeyUsage.keyAgreement],
          extendedKeyUsage: r.extendedKeyUsage,
        });
        templates.set(key, t);
      }
      return t;
    };
    return {
      key: publicKeySha256(signer.key),
      chain: signer.chain,
      notAfter: signer.notAfter,
      async issue(r) {
        const { pkcs8: key, spki } = await makeKeyDer(r.keyAlgorithm);
        const serial = serialNumber();
        const template = templateFor(r);
        const certificate = await template.issue({ subject: r.subject, publicKey: spki, serial, subjectAltNames: r.subjectAltNames });
        return { certificate, pkcs8: key, facts: { serial: serial.toString('hex').toUpperCase(), notBefore: template.notBefore, notAfter: template.notAfter } };
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
      async issue(r) {
        const key = await makeKey(r.keyAlgorithm);
        const csrDer = await certificationRequest({ subject: r.subject, key, challengePassword: challenge.toString(), subjectAltNames: r.subjectAltNames, extendedKeyUsage: r.extendedKeyUsage });
        const { certificate } = await enroll({ url: String(spec.url), csrDer, keyPkcs8: pkcs8(key), caFingerprint: spec.caFingerprint as string | undefined, transport: scepTransport() });
        return { certificate, pkcs8: pkcs8(key) };
      },
    };
  }

  if (spec.type === 'PublicCloud') {
    const accountKey = await ctx.blob(id, 'account-key');
    if (!accountKey) return { waiting: `CertificateAuthority/${name} has no ACME account yet` };
    const account = acmeAccountInput(spec, accountKey);
    return {
      key: `acme:${spec.directoryUrl}`,
      chain: [],
      async issue(r) {
        const dnsNames = r.subjectAltNames.filter((s) => s.type === 'DNS').map((s) => s.value);
        if (!dnsNames.length) throw new Error('an ACME CA certifies DNS names only: add a subject alternative name of type DNS');
        const key = await makeKey(r.keyAlgorithm);
        const csrDer = await certificationRequest({ subject: r.subject, key, subjectAltNames: r.subjectAltNames.filter((s) => s.type === 'DNS') });
        const { chainPem } = await acmeIssue({ ...account, csrDer, dnsNames, http01: { port: http01Port() } });
        const [leaf, ...above] = readCertificates(Buffer.from(chainPem));
        return { certificate: leaf!.der, chain: above.map((c) => toPem(c.der)).join(''), pkcs8: pkcs8(key) };
      },
    };
  }
  return { waiting: `a ${spec.type} CA issues its certificates through its own service; mdmops does not issue them` };
}
