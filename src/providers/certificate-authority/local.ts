// Local CA: a key pair sealed in the tenant store and a self-signed CA certificate, renewed before it
// expires; it issues by signing with its key (key-holder.ts, shared with Intermediate).
import { keyHolderObserve, keyHolderPending, keyHolderReconcile, keyPairImpact, signingIssuer } from './key-holder.js';
import type { CaStrategy } from './strategy.js';

export const local: CaStrategy = {
  create: (ctx, d) => keyHolderReconcile(ctx, d, undefined),
  update: keyHolderReconcile,
  observe: keyHolderObserve,
  pending: keyHolderPending,
  impact: keyPairImpact,
  issuer: signingIssuer,
};
