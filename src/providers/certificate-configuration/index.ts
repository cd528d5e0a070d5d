// CertificateConfiguration: an uploaded certificate (uploaded.ts), or identity certificates issued
// per user by a CA (identity.ts).
import { CertificateAuthority, CertificateConfiguration } from '../../api/index.js';
import type { KeyObject } from 'node:crypto';
import type { ProviderContext } from '../../engine/provider.js';
import { privateKey } from '../../pki/keys.js';
import { readCertificates } from '../../pki/x509.js';
import type { IssuedCertificate, ResourceId } from '../../store/types.js';
import { chainOf } from '../certificate-authority/index.js';
import { dependencyReady, defineProvider, recordOf } from '../record.js';
import { certificateKeyAad, identityPending, identityReconcile, removeAll } from './identity.js';
import { observeUploaded } from './uploaded.js';

export const certificateConfigurationProvider = defineProvider(CertificateConfiguration, {
  create: (ctx, d) => (d.spec.identity ? identityReconcile(ctx, d, d.spec.identity) : Promise.resolve({})),
  async update(ctx, d, record) {
    if (d.spec.identity) return identityReconcile(ctx, d, d.spec.identity);
    // Now an uploaded certificate: what was issued under the identity template goes.
    if (!record.spec.identity) return {};
    return { writes: removeAll(record), status: { reachedCount: undefined, issuedCount: undefined, waitingCount: undefined, problems: undefined, ambiguousGroups: undefined } };
  },
  pending: async (ctx, d) => (d.spec.identity ? identityPending(ctx, d, d.spec.identity) : []),
  async observe(ctx, d, status) {
    const identity = d.spec.identity;
    if (!identity) return observeUploaded(d);
    const ca = await dependencyReady(ctx, { tenant: d.id.tenant, kind: 'CertificateAuthority', name: identity.certificateAuthorityRef.name }, 'CertificateAuthority');
    if (ca) return ca;
    const problems = (status.problems as string[] | undefined) ?? [];
    const ambiguous = (status.ambiguousGroups as string[] | undefined) ?? [];
    const notices = [
      ...(problems.length ? [{ reason: 'CertificatesNotIssued', severity: 'Warning' as const, message: `${problems.length} user${problems.length === 1 ? '' : 's'} without a certificate: ${problems.join('; ')}` }] : []),
      ...(ambiguous.length ? [{ reason: 'GroupNameAmbiguous', severity: 'Warning' as const, message: ambiguous.join('; ') }] : []),
    ];
    const waiting = Number(status.waitingCount ?? 0);
    if (waiting) {
      return { notices, ready: { status: false, reason: 'CertificatesPending', message: `${waiting} of ${status.reachedCount} users reached have no current certificate${problems[0] ? ` (${problems[0]})` : ''}` } };
    }
    return { notices, ready: { status: true, reason: 'CertificatesIssued', message: `${status.issuedCount ?? 0} identity certificates current` } };
  },
  async delete(_ctx, record, policy) {
    // Orphaned, the certificates stay with the record; deleted, their keys go too.
    return policy === 'Delete' ? removeAll(record) : [];
  },
});

/**
 * One issued certificate with its key and the CAs above it, to hand to a user or a test device
 * (mdmops certificates --export); undefined key when it never left the device it was issued to.
 */
export async function certificateBundle(ctx: ProviderContext, configuration: ResourceId, cert: IssuedCertificate): Promise<{ key?: KeyObject; chain: Buffer[] }> {
  const key = cert.sealedKey && privateKey(ctx.key.open(cert.sealedKey, certificateKeyAad(configuration, cert.userId)));
  if (cert.chain) return { key, chain: readCertificates(Buffer.from(cert.chain)).map((c) => c.der) };
  const caName = (await recordOf(ctx, CertificateConfiguration, configuration.tenant, configuration.name))?.spec.identity?.certificateAuthorityRef.name;
  const ca = caName ? await recordOf(ctx, CertificateAuthority, configuration.tenant, caName) : undefined;
  return { key, chain: ca ? chainOf(ca.status) : [] };
}
export { reachedUsers, spaceOf, type Distribution, type SpaceMembers } from './distribution.js';
