// CoreSyncTarget: a peer core. Nothing is sent until an administrator commits the pin of its
// certificate; until then, and while it cannot be reached, it is not Ready.
import { probe } from '../../net/probe.js';
import { recordProvider, unreachable } from '../record.js';

export const coreSyncTargetProvider = recordProvider({
  kind: 'CoreSyncTarget',
  async inspect(_ctx, d) {
    if (d.spec.syncEnabled === false) return { ready: { status: true, reason: 'SyncDisabled', message: 'syncEnabled is false' } };
    const where = `${d.spec.fqdn}:${d.spec.port}`;
    const reached = await probe(String(d.spec.fqdn), Number(d.spec.port));
    if (!reached.ok) return unreachable('CoreUnreachable', `core server ${where} cannot be reached (${reached.message})`);
    const pin = (d.spec.trust as { certificateSha256?: string }).certificateSha256;
    if (!pin) {
      const message = `core server ${where} is not trusted: commit spec.trust.certificateSha256 to allow sync`;
      return { ready: { status: false, reason: 'Untrusted', message }, status: { trusted: false }, notices: [{ reason: 'CoreNotTrusted', severity: 'Warning', message }] };
    }
    return { ready: { status: true, reason: 'Reachable', message: reached.message } };
  },
});
