// EntraIdSource: the record, whether the Microsoft identity platform can be reached, and syncs of
// its users and groups (mdmops sync, or its syncInterval in the long-running modes).
import { EntraIdSource } from '../../api/index.js';
import { probeUrl } from '../../net/probe.js';
import { nextSyncAt } from '../source-sync.js';
import { defineProvider, unreachable } from '../record.js';
import { authorityOf, endpointRefusal } from './endpoints.js';
import { syncEntraIdSource } from './sync.js';

export const entraIdSourceProvider = defineProvider(EntraIdSource, {
  async observe(ctx, d) {
    if (d.spec.enabled === false) return { ready: { status: true, reason: 'Disabled', message: 'enabled is false: no users are synced' } };
    const refused = endpointRefusal(d.spec, ctx.outbound);
    if (refused) return unreachable('EndpointNotAllowed', refused);
    const authority = authorityOf(d.spec);
    const probe = await probeUrl(authority, ctx.outbound);
    if (!probe.ok) return unreachable('EntraUnreachable', `Entra ID authority ${authority} cannot be reached (${probe.message})`);
    return { ready: { status: true, reason: 'Reachable', message: probe.message } };
  },
  sync: syncEntraIdSource,
  syncDueAt: nextSyncAt,
});
