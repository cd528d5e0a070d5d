// What one type of CertificateAuthority brings to the provider: index.ts dispatches each call on
// spec.type to the type's strategy, one file per type, as cert-manager's issuer types register by name.
import type { CertificateAuthority } from '../../api/index.js';
import type { Desired } from '../../config/desired.js';
import type { Provider, ProviderContext } from '../../engine/provider.js';
import type { StoredRecord } from '../../store/types.js';
import type { SpecOf, WithSpec } from '../record.js';
import type { Issuer } from './issuer.js';

export type CaSpec = SpecOf<typeof CertificateAuthority>;
export type CaDesired = WithSpec<Desired, CaSpec>;
export type CaRecord = WithSpec<StoredRecord, CaSpec>;

/**
 * A CA type: the provider contract's calls (engine/provider.ts) for a CertificateAuthority of this
 * type, and how it issues once Ready.
 */
export interface CaStrategy extends Pick<Provider<CaSpec>, 'observe' | 'create' | 'update' | 'pending' | 'warnings' | 'routes'> {
  /** What replacing the CA (record: as it is now) does to what it issued. */
  impact?(ctx: ProviderContext, d: CaDesired, record: CaRecord): Promise<string[]>;
  /** The CA, once Ready, as an issuer of identity certificates, or why it cannot issue now. */
  issuer(ctx: ProviderContext, record: CaRecord): Promise<Issuer | { waiting: string }>;
}
