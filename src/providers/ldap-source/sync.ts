// Reading an LdapSource for a sync round: through its connector (which must be Ready), with the
// bind password from its secret and the CA bundle sealed at apply.
import { blobAad } from '../../engine/context.js';
import type { ProviderContext, SyncOptions, SyncReport } from '../../engine/provider.js';
import type { SecretResolver } from '../../config/secrets.js';
import { readyOf } from '../../engine/status.js';
import type { StoredRecord } from '../../store/types.js';
import { urlRefusal } from '../../net/outbound.js';
import { runSourceSync } from '../source-sync.js';
import { ldapReadSettings, type DirectoryUser, type LdapSource } from '../../api/index.js';
import { throughConnector, type SpecOf, type WithSpec } from '../record.js';

export async function syncLdapSource(ctx: ProviderContext, secrets: SecretResolver, record: WithSpec<StoredRecord, SpecOf<typeof LdapSource>>, options: SyncOptions): Promise<SyncReport> {
  const id = { tenant: record.tenant, kind: record.kind, name: record.name };
  const spec = record.spec;
  const source = `${record.kind}/${record.name}`;
  return runSourceSync(ctx, record, {
    prefix: 'Ldap',
    where: spec.url,
    async read(_state, { progress, accept }) {
      if (spec.connectorRef) {
        const connector = await ctx.store.getRecord({ tenant: record.tenant, kind: 'Connector', name: spec.connectorRef.name });
        const ready = readyOf(connector?.status);
        if (ready?.status !== 'True') throw new Error(`Connector/${spec.connectorRef.name}, which reaches the directory, is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}`);
      }
      // Through the connector's agent, inside the customer network; otherwise only where the
      // outbound policy lets it, checked before the bind password goes anywhere.
      const dial = spec.connectorRef && throughConnector(ctx, { ...id, spec: record.spec }, spec.connectorRef.name);
      const refused = !dial && (await urlRefusal(ctx.outbound, spec.url));
      if (refused) throw new Error(refused);
      const password = await secrets.resolve(record.tenant, spec.bindPasswordSecretRef);
      if (password === undefined) throw new Error(`the bind password is missing: ${secrets.where(record.tenant, spec.bindPasswordSecretRef)}`);
      const sealedCa = await ctx.store.getBlob(id, 'file:spec.tls.caCertificates');
      const caPem = sealedCa && ctx.key.open(sealedCa, blobAad(id, 'file:spec.tls.caCertificates')).toString();
      // The LDAP client is loaded only to sync: other commands need not pay its load time.
      const { describeNotFollowed, describeSkipped, readLdapDirectory } = await import('../../identity/ldap-directory.js');
      const settings = ldapReadSettings(spec);
      const read = await readLdapDirectory({ ...spec, ...settings }, { password, caPem, dial }, progress, (u) => {
        const user: DirectoryUser = { tenant: record.tenant, id: `${source}/${u.uid}`, source, upn: u.upn ?? u.email ?? u.uid, groups: u.groups, attributes: u.attributes, labels: {} };
        if (u.email) user.email = u.email;
        if (u.displayName) user.displayName = u.displayName;
        if (u.firstName) user.firstName = u.firstName;
        if (u.lastName) user.lastName = u.lastName;
        accept(user);
      });
      return { groupCount: read.groupCount, skipped: describeSkipped(settings.attributeMapping.uid, read.skipped), notFollowed: describeNotFollowed(read.notFollowed) };
    },
  }, options);
}
