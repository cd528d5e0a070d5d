// CertificateAuthority: Local and Intermediate CAs hold a key pair and a CA certificate in the
// tenant store (key-holder.ts); SCEP, ACME and non-SCEP CAs are servers checked as they answer
// (servers.ts).
import { CertificateAuthority } from '../../api/index.js';
import { recordProvider } from '../record.js';
import { keyHolderInspect, keyHolderPending, keyHolderReconcile } from './key-holder.js';
import { serverCa } from './servers.js';

const holdsKey = (type: unknown) => type === 'Local' || type === 'Intermediate';

export const certificateAuthorityProvider = recordProvider(CertificateAuthority, {
  // A new type, key or name is a new CA: a new key pair, and everything it issued is issued again.
  replaceOn: ['type', 'keyAlgorithm', 'subject'],
  reconcile: (ctx, d, record) => (holdsKey(d.spec.type) ? keyHolderReconcile(ctx, d, record) : serverCa.reconcile(ctx, d, record)),
  inspect: (ctx, d, status, record) => (holdsKey(d.spec.type) ? keyHolderInspect(ctx, d, status, record) : serverCa.inspect(ctx, d, status)),
  pending: (ctx, d, record) => (holdsKey(d.spec.type) ? keyHolderPending(ctx, d, record) : serverCa.pending(d, record)),
  // Only a SCEP CA goes through its connector today; a non-SCEP CA's connectorRef is recorded, its server reached from here.
  routes: (spec) => (spec.type === 'ScepOnPremises' && spec.connectorRef && spec.url ? [{ connector: spec.connectorRef.name, url: spec.url }] : []),
  warnings(d) {
    return d.spec.type === 'ScepOnPremises' && !d.spec.caFingerprint
      ? ['no caFingerprint: the SCEP CA certificate first seen is trusted from then on (trust on first use), and a different one is refused; commit caFingerprint to pin it']
      : [];
  },
  async impact(ctx, d, record, replace) {
    if (!replace.length || !holdsKey(record.spec.type)) return [];
    const issued = (await ctx.store.listCertificateFacts({ tenant: d.id.tenant })).filter((c) => c.issuerKey === record.status.publicKeySha256).length;
    return [`a new key pair replaces the current one: ${issued} identity certificate${issued === 1 ? '' : 's'} it issued ${issued === 1 ? 'is' : 'are'} issued again, and intermediates it signed are signed again`];
  },
});
