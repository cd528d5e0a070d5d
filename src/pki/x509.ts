// Reading certificates from PEM or DER, with the facts validation and status need.
import { X509Certificate } from 'node:crypto';
import type Forge from 'node-forge';
import { forge } from './forge.js';

export interface CertificateInfo {
  /** 1, 2 or 3. */
  version: number;
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
  isCA: boolean;
  der: Buffer;
}

export class CertificateError extends Error {}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every certificate in a PEM bundle or a DER file. Throws CertificateError with a reason users can act on. */
export function readCertificates(bytes: Buffer): CertificateInfo[] {
  const text = bytes.toString('latin1');
  if (text.includes('-----BEGIN')) {
    const certs: CertificateInfo[] = [];
    for (const [, label, body] of text.matchAll(PEM_BLOCK)) {
      if (/PRIVATE KEY/.test(label!)) throw new CertificateError('contains a private key; only certificates belong here');
      if (label === 'CERTIFICATE' || label === 'TRUSTED CERTIFICATE' || label === 'X509 CERTIFICATE') certs.push(certificateInfo(Buffer.from(body!, 'base64')));
    }
    if (!certs.length) throw new CertificateError('no PEM CERTIFICATE block found');
    return certs;
  }
  if (bytes[0] !== 0x30) throw new CertificateError('not a certificate: expected PEM text or DER');
  return [certificateInfo(bytes)];
}

export function certificateInfo(der: Buffer): CertificateInfo {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new CertificateError('not a valid X.509 certificate');
  }
  return {
    version: x509Version(der),
    subject: cert.subject.replace(/\n/g, ', '),
    issuer: cert.issuer.replace(/\n/g, ', '),
    notBefore: new Date(cert.validFrom).toISOString(),
    notAfter: new Date(cert.validTo).toISOString(),
    fingerprintSha256: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    isCA: cert.ca,
    der,
  };
}

/** The version field of TBSCertificate: absent means v1 (RFC 5280 4.1.2.1). */
export function x509Version(der: Buffer): number {
  const { asn1, util } = forge();
  const cert = asn1.fromDer(util.createBuffer(der.toString('binary')));
  const tbs = (cert.value as Forge.asn1.Asn1[])[0]!;
  const first = (tbs.value as Forge.asn1.Asn1[])[0]!;
  if (first.tagClass !== asn1.Class.CONTEXT_SPECIFIC || first.type !== 0) return 1;
  const int = (first.value as Forge.asn1.Asn1[])[0]!;
  return util.createBuffer(int.value as string).getInt(8 * (int.value as string).length) + 1;
}

/** Checks the outer structure of a PKCS#12 file; its content needs the password, known only at apply. */
export function checkPkcs12Structure(bytes: Buffer): void {
  try {
    const { asn1, util } = forge();
    const pfx = asn1.fromDer(util.createBuffer(bytes.toString('binary')));
    const version = (pfx.value as Forge.asn1.Asn1[])[0];
    if (!version || version.type !== asn1.Type.INTEGER || (version.value as string).charCodeAt(0) !== 3) throw new Error();
  } catch {
    throw new CertificateError('not a PKCS#12 (.p12/.pfx) file');
  }
}
