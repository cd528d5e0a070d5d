// CoreSyncTarget: a peer core. Trusting it is a reviewed decision: nothing is sent until an
// administrator commits the pin of the certificate it presents (shown in status), and a pinned
// target whose certificate changes is blocked until a new pin is committed. The pin is checked on a
// real TLS handshake, before anything is written to the peer.
import { CoreSyncTarget } from '../../api/index.js';
import { normalFingerprint, presentedCertificate } from '../../net/tls-certificate.js';
import { recordProvider, unreachable } from '../record.js';

export const coreSyncTargetProvider = recordProvider(CoreSyncTarget, {
  async inspect(ctx, d) {
    if (d.spec.syncEnabled === false) return { ready: { status: true, reason: 'SyncDisabled', message: 'syncEnabled is false' } };
    const where = `${d.spec.fqdn}:${d.spec.port}`;
    const presented = await presentedCertificate(d.spec.fqdn.replace(/\.$/, ''), d.spec.port, ctx.outbound);
    if (!presented.ok) return unreachable('CoreUnreachable', `core server ${where} cannot be reached (${presented.message})`);
    const seen = { presentedCertificateSha256: presented.sha256 };
    const pin = d.spec.trust.certificateSha256;
    if (!pin) {
      const message = `core server ${where} is not trusted: review the certificate it presents (SHA-256 ${presented.sha256}) and commit it as spec.trust.certificateSha256 to allow sync`;
      return { ready: { status: false, reason: 'Untrusted', message }, status: { ...seen, trusted: false }, notices: [{ reason: 'CoreNotTrusted', severity: 'Warning', message }] };
    }
    if (normalFingerprint(pin) !== presented.sha256) {
      const message = `core server ${where} presents a certificate with SHA-256 ${presented.sha256}, not the pinned ${normalFingerprint(pin)}: sync is blocked until a new pin is reviewed and committed`;
      return { ready: { status: false, reason: 'CertificateChanged', message }, status: { ...seen, trusted: false }, notices: [{ reason: 'CoreCertificateChanged', severity: 'Error', message }] };
    }
    return { ready: { status: true, reason: 'Trusted', message: `core server ${where} presents the pinned certificate` }, status: { ...seen, trusted: true } };
  },
});
