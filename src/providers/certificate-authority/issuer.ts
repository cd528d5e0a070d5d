// Issuing one identity certificate through a CertificateAuthority, whatever its type: Local and
// Intermediate CAs sign with their key, a SCEP CA enrolls, a PublicCloud CA orders over ACME.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { parseDuration } from '../../api/duration.js';
import type { ProviderContext } from '../../engine/provider.js';
import { acmeIssue } from '../../pki/acme.js';
import { certificationRequest, issueCertificate, KeyUsage, serialNumber, subjectKeyIdOf, toPem, type San } from '../../pki/certificate.js';
import { makeKey, makeKeyDer, pkcs8, privateKey, publicKeySha256 } from '../../pki/keys.js';
import { enroll } from '../../pki/scep.js';
import { readCertificates } from '../../pki/x509.js';
import { readyOf } from '../../engine/status.js';
import { subjectOf } from './key-holder.js';
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

/** The CA as an issuer, or why it cannot issue now. */
export async function openIssuer(ctx: ProviderContext, tenant: string, name: string): Promise<Issuer | { waiting: string }> {
  const id = { tenant, kind: 'CertificateAuthority', name };
  const record = await ctx.record(id);
  const ready = readyOf(record?.status);
  if (!record || ready?.status !== 'True') return { waiting: `CertificateAuthority/${name} is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}` };
  const status = record.status;
  const spec = record.spec;
  const chain = [...(typeof status.certificate === 'string' ? readCertificates(Buffer.from(status.certificate)) : []), ...(typeof status.chain === 'string' ? readCertificates(Buffer.from(status.chain)) : [])].map((c) => c.der);

  if (spec.type === 'Local' || spec.type === 'Intermediate') {
    const sealed = await ctx.blob(id, 'private-key');
    if (!sealed || !chain[0]) return { waiting: `CertificateAuthority/${name} has no key or certificate yet` };
    const caKey = privateKey(sealed);
    const ca = new X509Certificate(chain[0]);
    const issuerName = subjectOf(ca);
    const caPublic = createPublicKey(caKey).export({ type: 'spki', format: 'der' });
    const caNotAfter = Date.parse(ca.validTo);
    const keyId = subjectKeyIdOf(chain[0]);
    return {
      key: publicKeySha256(caKey),
      chain,
      notAfter: caNotAfter,
      async issue(r) {
        const { pkcs8: key, spki } = await makeKeyDer(r.keyAlgorithm);
        const now = Date.now();
        const serial = serialNumber();
        const notBefore = new Date(now - 5 * 60_000);
        const notAfter = new Date(Math.min(now + parseDuration(r.validity), caNotAfter));
        const certificate = await issueCertificate({
          subject: r.subject,
          publicKey: spki,
          issuer: { name: issuerName, key: caKey, publicKey: caPublic, keyId },
          serial,
          notBefore,
          notAfter,
          keyUsage: r.keyAlgorithm.startsWith('RSA') ? [KeyUsage.digitalSignature, KeyUsage.keyEncipherment] : [KeyUsage.digitalSignature, KeyUsage.keyAgreement],
          extendedKeyUsage: r.extendedKeyUsage,
          subjectAltNames: r.subjectAltNames,
        });
        return { certificate, pkcs8: key, facts: { serial: serial.toString('hex').toUpperCase(), notBefore, notAfter } };
      },
    };
  }

  if (spec.type === 'ScepOnPremises') {
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
