// What the CAs that are servers share (scep.ts, public-cloud.ts, non-scep.ts): their secrets, when a
// failure means the server is out of reach, and waiting for the connector they name.
import type { Observed, ProviderContext } from '../../engine/provider.js';
import { AcmeError } from '../../pki/acme.js';
import { ScepError } from '../../pki/scep.js';
import { dependencyReady } from '../record.js';
import type { CaDesired } from './strategy.js';

export const secretOf = (d: CaDesired, path: string) => d.secrets[path]?.value;

/** A failure worth retrying: the server did not answer. */
export const unreachableError = (e: unknown) => (e instanceof ScepError || e instanceof AcmeError) && e.kind === 'unreachable';

/** Not Ready while the connector it names is not. */
export async function connectorGate(ctx: ProviderContext, d: CaDesired): Promise<Observed | undefined> {
  const connector = d.spec.connectorRef;
  return connector && dependencyReady(ctx, { tenant: d.id.tenant, kind: 'Connector', name: connector.name }, 'Connector');
}
