// LdapSource: the record; the directory is reached through its connector.
import { dependencyReady, recordProvider } from '../record.js';

export const ldapSourceProvider = recordProvider({
  kind: 'LdapSource',
  async inspect(ctx, d) {
    const connector = d.spec.connectorRef as { name: string };
    return (await dependencyReady(ctx, { tenant: d.id.tenant, kind: 'Connector', name: connector.name }, 'Connector')) ?? {};
  },
});
