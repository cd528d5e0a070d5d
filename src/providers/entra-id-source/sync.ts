// Reading an EntraIdSource for a sync round: app-only Graph access with the app's secret or
// certificate, delta queries from where the last applied round stopped.
import type { ProviderContext, SyncOptions, SyncReport } from '../../engine/provider.js';
import type { SecretRef, SecretResolver } from '../../config/secrets.js';
import { admitted, readEntraDirectory, withChange, type EntraState, type EntraUser, type Inclusion, type Membership } from '../../identity/entra-directory.js';
import { GraphClient, type GraphCredentials } from '../../identity/graph.js';
import type { StoredRecord } from '../../store/types.js';
import { runSourceSync } from '../source-sync.js';
import { authorityOf, endpointRefusal, graphOf } from './endpoints.js';
import type { DirectoryUser, EntraIdSource } from '../../api/index.js';
import type { SpecOf, WithSpec } from '../record.js';

type EntraRecord = WithSpec<StoredRecord, SpecOf<typeof EntraIdSource>>;

async function credentialsOf(secrets: SecretResolver, record: EntraRecord): Promise<GraphCredentials> {
  const spec = record.spec;
  const need = async (ref: SecretRef, what: string) => {
    const v = await secrets.resolve(record.tenant, ref);
    if (v === undefined) throw new Error(`the ${what} is missing: ${secrets.where(record.tenant, ref)}`);
    return v;
  };
  const base = { authorityHost: authorityOf(record.spec), graphEndpoint: graphOf(record.spec), tenantId: spec.tenantId, clientId: spec.clientId };
  if (spec.clientSecretRef) return { ...base, secret: await need(spec.clientSecretRef, 'client secret') };
  const c = spec.clientCertificate!;
  return { ...base, certificate: { certificatePem: await need(c.certificateSecretRef, 'client certificate'), privateKeyPem: await need(c.privateKeySecretRef, 'client certificate key') } };
}

/**
 * Graph page size asked for (Prefer: odata.maxpagesize). Graph documents no page size for users
 * and groups delta; pages of about 200 objects are reported, whatever is asked.
 */
const PAGE_SIZE = Number(process.env.MDMOPS_GRAPH_PAGE_SIZE) || 999;

export async function syncEntraIdSource(ctx: ProviderContext, secrets: SecretResolver, record: EntraRecord, options: SyncOptions): Promise<SyncReport> {
  const spec = record.spec;
  const source = `${record.kind}/${record.name}`;
  const prefix = `${source}/`;
  return runSourceSync(ctx, record, {
    prefix: 'Entra',
    where: `Entra ID tenant ${spec.tenantId}`,
    async read(state, { progress, accept, storedListed, restart }) {
      // Before the secret goes anywhere; every connection is then checked against the outbound policy.
      const refused = endpointRefusal(record.spec, ctx.outbound);
      if (refused) throw new Error(refused);
      const graph = new GraphClient(await credentialsOf(secrets, record), { pageSize: PAGE_SIZE, outbound: ctx.outbound });
      const custom = spec.customAttributes ?? [];
      const include: Inclusion = { guests: spec.includeGuests, disabled: spec.includeDisabledUsers };
      const stored = state && (JSON.parse(state.toString()) as EntraState);
      // Who is synced changed: users left out come back, and those now left out go, only in a full round.
      const reselected = stored && (stored.include?.guests !== include.guests || stored.include?.disabled !== include.disabled);
      const previous = reselected ? undefined : stored;
      const hand = (u: EntraUser | undefined, memberOf: Map<string, Membership>) => {
        if (!u || !admitted(u, include)) return;
        const groups = memberOf.get(u.id);
        const user: DirectoryUser = { tenant: record.tenant, id: prefix + u.id, source, upn: u.upn, groups: groups?.names ?? [], groupIds: groups?.ids ?? [], attributes: u.attributes, labels: {} };
        if (u.email) user.email = u.email;
        if (u.displayName) user.displayName = u.displayName;
        if (u.firstName) user.firstName = u.firstName;
        if (u.lastName) user.lastName = u.lastName;
        accept(user);
      };
      const read = await readEntraDirectory(graph, custom, previous, progress, hand).finally(() => graph.close());
      if (read.full) {
        if (read.repeated) {
          await restart();
          for (const u of read.users) hand(u, read.memberOf);
        }
      } else {
        // A delta round walks the users stored before, changing what the round changed, then adds
        // those new to it: the directory is never held whole.
        const changes = read.changes;
        await storedListed;
        let walked = 0;
        await ctx.store.forEachUser(record.tenant, source, (stored) => {
          const id = stored.id.slice(prefix.length);
          const known: EntraUser = {
            id,
            upn: stored.upn,
            ...(stored.email ? { email: stored.email } : {}),
            ...(stored.displayName ? { displayName: stored.displayName } : {}),
            ...(stored.firstName ? { firstName: stored.firstName } : {}),
            ...(stored.lastName ? { lastName: stored.lastName } : {}),
            attributes: stored.attributes,
          };
          hand(withChange(known, changes.get(id), custom), read.memberOf);
          changes.delete(id);
          if (++walked % 1000 === 0) progress(walked);
        });
        progress(walked);
        for (const change of changes.values()) hand(withChange(undefined, change, custom), read.memberOf);
      }
      const resync = read.resync ?? (reselected ? 'the stored users were synced with other includeGuests or includeDisabledUsers settings: every user was read again' : undefined);
      return { groupCount: Object.keys(read.groups).length, state: Buffer.from(JSON.stringify({ ...read.state, include })), ...(resync ? { resync } : {}) };
    },
  }, options);
}
