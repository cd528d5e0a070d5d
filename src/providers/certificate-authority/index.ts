// CertificateAuthority: each type is a strategy in its own file (local.ts, intermediate.ts, scep.ts,
// public-cloud.ts, non-scep.ts), registered by name below; the provider and openIssuer dispatch on
// spec.type. This is the folder's public entry: other providers import from here only.
import { CertificateAuthority, type CaType } from '../../api/index.js';
import type { ProviderContext } from '../../engine/provider.js';
import { readyOf } from '../../engine/status.js';
import { defineProvider, recordOf } from '../record.js';
import { intermediate } from './intermediate.js';
import type { Issuer } from './issuer.js';
import { local } from './local.js';
import { nonScep } from './non-scep.js';
import { publicCloud } from './public-cloud.js';
import { scep } from './scep.js';
import type { CaStrategy } from './strategy.js';

export { chainOf, type Issued, type IssueProfile, type IssueRequest } from './issuer.js';

/** Every CA type's strategy: a type added to CA_TYPES without one does not compile. */
const STRATEGIES: Record<CaType, CaStrategy> = {
  Local: local,
  Intermediate: intermediate,
  PublicCloud: publicCloud,
  ScepOnPremises: scep,
  NonScepOnPremises: nonScep,
};

export const certificateAuthorityProvider = defineProvider(CertificateAuthority, {
  // A new type, key or name is a new CA: a new key pair, and everything it issued is issued again.
  replaceOn: ['type', 'keyAlgorithm', 'subject'],
  create: async (ctx, d) => (await STRATEGIES[d.spec.type].create?.(ctx, d)) ?? {},
  update: async (ctx, d, record) => (await STRATEGIES[d.spec.type].update?.(ctx, d, record)) ?? {},
  observe: async (ctx, d, status, record) => (await STRATEGIES[d.spec.type].observe?.(ctx, d, status, record)) ?? {},
  pending: async (ctx, d, record) => (await STRATEGIES[d.spec.type].pending?.(ctx, d, record)) ?? [],
  routes: (spec) => STRATEGIES[spec.type].routes?.(spec) ?? [],
  warnings: (d) => STRATEGIES[d.spec.type].warnings?.(d) ?? [],
  // What replacing it does depends on the CA as it is now: its record's type.
  impact: async (ctx, d, record, replace) => (replace.length ? ((await STRATEGIES[record.spec.type].impact?.(ctx, d, record)) ?? []) : []),
});

/** The CA as an issuer of identity certificates, or why it cannot issue now. */
export async function openIssuer(ctx: ProviderContext, tenant: string, name: string): Promise<Issuer | { waiting: string }> {
  const record = await recordOf(ctx, CertificateAuthority, tenant, name);
  const ready = readyOf(record?.status);
  if (!record || ready?.status !== 'True') return { waiting: `CertificateAuthority/${name} is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}` };
  return STRATEGIES[record.spec.type].issuer(ctx, record);
}
