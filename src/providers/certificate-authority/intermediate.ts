// Intermediate CA: a key pair sealed in the tenant store and a CA certificate signed by another
// CertificateAuthority (issuerRef) or by the customer's CA from the CSR status publishes
// (externalSigner); it issues by signing with its key (key-holder.ts, shared with Local).
import { keyHolderObserve, keyHolderPending, keyHolderReconcile, keyPairImpact, signingIssuer } from './key-holder.js';
import type { CaStrategy } from './strategy.js';

export const intermediate: CaStrategy = {
  create: (ctx, d) => keyHolderReconcile(ctx, d, undefined),
  update: keyHolderReconcile,
  observe: keyHolderObserve,
  pending: keyHolderPending,
  impact: keyPairImpact,
  issuer: signingIssuer,
};
