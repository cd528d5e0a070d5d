// An uploaded certificate: PEM, DER or PKCS#12 (opened with its password), X.509 v3 only; status
// shows what it is, and notifications say when it expires.
import { DAY } from '../../api/duration.js';
import { X509Certificate } from 'node:crypto';
import type { Desired } from '../../config/desired.js';
import type { Notice, Outcome } from '../../engine/provider.js';
import { readPkcs12 } from '../../pki/pkcs12.js';
import { certificateInfo, readCertificates, type CertificateInfo } from '../../pki/x509.js';
import { messageOf } from '../../util/message-of.js';

export const EXPIRY_WARNING_DAYS = 30;

function invalid(message: string): Partial<Outcome> {
  return { ready: { status: false, reason: 'CertificateInvalid', message }, notices: [{ reason: 'CertificateInvalid', severity: 'Error', message }] };
}

export function inspectUploaded(d: Desired): Partial<Outcome> {
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
  const left = Date.parse(cert.notAfter) - Date.now();
  const notices: Notice[] = [];
  if (left <= 0) {
    const message = `certificate "${cert.subject}" expired on ${cert.notAfter}`;
    return { status, ready: { status: false, reason: 'CertificateExpired', message }, notices: [{ reason: 'CertificateExpired', severity: 'Error', message }] };
  }
  if (left < EXPIRY_WARNING_DAYS * DAY) {
    notices.push({ reason: 'CertificateExpiring', severity: 'Warning', message: `certificate "${cert.subject}" expires on ${cert.notAfter}, in ${Math.ceil(left / DAY)} days` });
  }
  return { status, notices };
}
