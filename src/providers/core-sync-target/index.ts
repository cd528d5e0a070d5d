// CoreSyncTarget: a peer core. Trusting it is a reviewed decision: nothing is sent until an
// administrator commits the pin of the certificate it presents (shown in status), and a pinned
// target whose certificate changes is blocked, its pin dropped, until a new pin is committed (even
// if the old certificate comes back). The pin is checked on a real TLS handshake, before anything
// is written to the peer. What is sent, and when: sync.ts.
import { CoreSyncTarget } from '../../api/index.js';
import { normalFingerprint, presentedCertificate } from '../../net/tls-certificate.js';
import { defineProvider, unreachable } from '../record.js';
import { syncCoreTarget } from './sync.js';

export const coreSyncTargetProvider = defineProvider(CoreSyncTarget, {
  async observe(ctx, d, status) {
    if (d.spec.syncEnabled === false) return { ready: { status: true, reason: 'SyncDisabled', message: 'syncEnabled is false' } };
    const where = `${d.spec.fqdn}:${d.spec.port}`;
    const pin = d.spec.trust.certificateSha256 && normalFingerprint(d.spec.trust.certificateSha256);
    if (pin && pin === status.droppedCertificateSha256) {
      const message = `sync with ${where} is blocked: it presented another certificate than the pinned ${pin}, which was dropped; review the one it presents now and commit a new pin`;
      return { ready: { status: false, reason: 'CertificateChanged', message }, status: { trusted: false }, notices: [{ reason: 'CoreCertificateChanged', severity: 'Error', message }] };
    }
    const presented = await presentedCertificate(d.spec.fqdn.replace(/\.$/, ''), d.spec.port, ctx.outbound);
    if (!presented.ok) return unreachable('CoreUnreachable', `core server ${where} cannot be reached (${presented.message})`);
    const seen = { presentedCertificateSha256: presented.sha256 };
    if (!pin) {
      const message = `core server ${where} is not trusted: review the certificate it presents (SHA-256 ${presented.sha256}) and commit it as spec.trust.certificateSha256 to allow sync`;
      return { ready: { status: false, reason: 'Untrusted', message }, status: { ...seen, trusted: false }, notices: [{ reason: 'CoreNotTrusted', severity: 'Warning', message }] };
    }
    if (pin !== presented.sha256) {
      const message = `core server ${where} presents a certificate with SHA-256 ${presented.sha256}, not the pinned ${pin}: the pin is dropped and sync is blocked until a new pin is reviewed and committed`;
      return { ready: { status: false, reason: 'CertificateChanged', message }, status: { ...seen, trusted: false, droppedCertificateSha256: pin }, notices: [{ reason: 'CoreCertificateChanged', severity: 'Error', message }] };
    }
    return { ready: { status: true, reason: 'Trusted', message: `core server ${where} presents the pinned certificate` }, status: { ...seen, trusted: true } };
  },
  sync: syncCoreTarget,
  // Looked at every time: the sync itself sends only a change, its interval, or its retry.
  syncDueAt: (record) => (record.managed && record.spec.syncEnabled ? 0 : undefined),
});
