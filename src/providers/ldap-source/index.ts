// LdapSource: the record; the directory is reached through its connector, and synced on demand
// (mdmops sync) or on its syncInterval in the long-running modes.
import { LdapSource } from '../../api/index.js';
import { nextSyncAt } from '../source-sync.js';
import { dependencyReady, defineProvider } from '../record.js';
import { syncLdapSource } from './sync.js';

export const ldapSourceProvider = defineProvider(LdapSource, {
  async observe(ctx, d) {
    const connector = d.spec.connectorRef;
    if (!connector) return {}; // validation requires one; optional in the schema only to say so in its own words
    return (await dependencyReady(ctx, { tenant: d.id.tenant, kind: 'Connector', name: connector.name }, 'Connector')) ?? {};
  },
  warnings(d) {
    return d.spec.insecure === true && /^ldap:/i.test(d.spec.url) && d.spec.startTls !== true
      ? ['insecure: the bind password and every entry travel in clear over ldap://']
      : [];
  },
  routes: (spec) => (spec.connectorRef ? [{ connector: spec.connectorRef.name, url: spec.url }] : []),
  sync: syncLdapSource,
  syncDueAt: nextSyncAt,
});
