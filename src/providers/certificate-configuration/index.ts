// CertificateConfiguration: an uploaded certificate (its details and expiry in status), or identity
// certificates issued per user by a CA.
import type { Notice } from '../../engine/provider.js';
import { readCertificates } from '../../pki/x509.js';
import { dependencyReady, recordProvider } from '../record.js';

const DAY = 86_400_000;
export const EXPIRY_WARNING_DAYS = 30;

export const certificateConfigurationProvider = recordProvider({
  kind: 'CertificateConfiguration',
  async inspect(ctx, d) {
    const identity = d.spec.identity as { certificateAuthorityRef: { name: string } } | undefined;
    if (identity) {
      return (await dependencyReady(ctx, { tenant: d.id.tenant, kind: 'CertificateAuthority', name: identity.certificateAuthorityRef.name }, 'CertificateAuthority')) ?? {};
    }
    const file = d.files['spec.uploaded.certificate'];
    if (!file || file.field.content !== 'certificates') return {}; // PKCS#12 opens with its password when certificates are issued
    const [cert] = readCertificates(file.bytes);
    if (!cert) return {};
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
  },
  async impact(_ctx, _d, record, _replace) {
    return record.spec.identity ? ['identity certificates follow the new template: each user it reaches gets a new certificate'] : [];
  },
});
