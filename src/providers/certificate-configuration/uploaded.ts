// An uploaded certificate: PEM, DER or PKCS#12 (opened with its password), X.509 v3 only; status
// shows what it is, and notifications say when it expires.
import { DAY } from '../../api/duration.js';
import { X509Certificate } from 'node:crypto';
import type { Desired } from '../../config/desired.js';
import type { Notice, Observed } from '../../engine/provider.js';
import { readPkcs12 } from '../../pki/pkcs12.js';
import { EXPIRY_POLICIES, firstTrigger } from '../../pki/renewal.js';
import { certificateInfo, readCertificates, type CertificateInfo } from '../../pki/x509.js';
import { messageOf } from '../../util/message-of.js';

export const EXPIRY_WARNING_DAYS = 30;

function invalid(message: string): Observed {
  return { ready: { status: false, reason: 'CertificateInvalid', message }, notices: [{ reason: 'CertificateInvalid', severity: 'Error', message }] };
}

export function observeUploaded(d: Desired): Observed {
  const file = d.files['spec.uploaded.certificate'];
  if (!file) return {};
  const where = `spec.uploaded.certificate (${file.name})`;
  let cert: CertificateInfo | undefined;
  if (file.field.content === 'pkcs12') {
    const password = d.secrets['spec.uploaded.passwordSecretRef']?.value;
    if (password === undefined) return {}; // SecretNotFound says where to put it
    try {
      // The certificate is the one with the key; without a key, the one that is not a CA.
      const { key, certificates } = readPkcs12(file.bytes, password);
      const der = certificates.find((c) => key && new X509Certificate(c).checkPrivateKey(key)) ?? certificates.find((c) => !new X509Certificate(c).ca) ?? certificates[0];
      if (!der) return invalid(`${where} holds no certificate`);
      cert = certificateInfo(der);
    } catch (e) {
      return invalid(`cannot open ${where}: ${messageOf(e)}; check the secret passwordSecretRef names`);
    }
  } else {
    cert = readCertificates(file.bytes)[0];
  }
  if (!cert) return invalid(`${where} holds no certificate`);
  if (cert.version !== 3) return invalid(`${where} is an X.509 v${cert.version} certificate; only v3 certificates are accepted`);
  const status = { subject: cert.subject, issuer: cert.issuer, fingerprintSha256: cert.fingerprintSha256, notAfter: cert.notAfter };
  const expiry = firstTrigger(EXPIRY_POLICIES, { now: Date.now(), notAfter: Date.parse(cert.notAfter), what: `certificate "${cert.subject}"`, warnBeforeMs: EXPIRY_WARNING_DAYS * DAY });
  if (expiry?.reason === 'CertificateExpired') return { status, ready: { status: false, reason: expiry.reason, message: expiry.message }, notices: [{ reason: expiry.reason, severity: 'Error', message: expiry.message }] };
  const notices: Notice[] = expiry ? [{ reason: expiry.reason, severity: 'Warning', message: expiry.message }] : [];
  return { status, notices };
}
