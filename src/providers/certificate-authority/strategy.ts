// What one type of CertificateAuthority brings to the provider: index.ts dispatches each call on
// spec.type to the type's strategy, one file per type, as cert-manager's issuer types register by name.
import type { CertificateAuthority } from '../../api/index.js';
import type { Desired } from '../../config/desired.js';
import type { ConnectorRoute, Outcome, ProviderContext } from '../../engine/provider.js';
import type { StoredRecord } from '../../store/types.js';
import type { Made, SpecOf, WithSpec } from '../record.js';
import type { Issuer } from './issuer.js';

export type CaSpec = SpecOf<typeof CertificateAuthority>;
export type CaDesired = WithSpec<Desired, CaSpec>;
export type CaRecord = WithSpec<StoredRecord, CaSpec>;

export interface CaStrategy {
  /** Makes what the CA needs on creation (record undefined) or update: a key pair, its certificate, an account. */
  reconcile?(ctx: ProviderContext, d: CaDesired, record: CaRecord | undefined): Promise<Made>;
  /** Readiness, status fields and notices, given its status so far. Changes nothing. */
  inspect(ctx: ProviderContext, d: CaDesired, status: Record<string, unknown>, record: CaRecord | undefined): Promise<Partial<Outcome>>;
  /** Work reconcile would do beyond recording the spec. Changes nothing. */
  pending?(ctx: ProviderContext, d: CaDesired, record: CaRecord | undefined): Promise<string[]>;
  /** What replacing the CA (record: as it is now) does to what it issued. */
  impact?(ctx: ProviderContext, d: CaDesired, record: CaRecord): Promise<string[]>;
  /** What a reviewer must be told of the desired spec. Pure. */
  warnings?(d: CaDesired): string[];
  /** The servers it reaches through its connector. Pure. */
  routes?(spec: CaSpec): ConnectorRoute[];
  /** The CA, once Ready, as an issuer of identity certificates, or why it cannot issue now. */
  issuer(ctx: ProviderContext, record: CaRecord): Promise<Issuer | { waiting: string }>;
}
