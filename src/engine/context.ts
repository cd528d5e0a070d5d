// What the engine works with: the store, the master key and the providers.
import { displayName, kindNamed } from '../api/index.js';
import type { Tunnels } from '../net/dial.js';
import type { OutboundPolicy } from '../net/outbound.js';
import type { MasterKey } from '../store/master-key.js';
import type { ResourceId, Store, StoredRecord } from '../store/types.js';
import { idKey } from '../config/desired.js';
import type { ProviderContext, ProviderRegistry } from './provider.js';
import { conditionOf, readyOf } from './status.js';

export interface Engine {
  store: Store;
  key: MasterKey;
  providers: ProviderRegistry;
  /** Where tenants' URLs may lead; open unless the mode is shared by tenants. */
  outbound?: OutboundPolicy;
  /** Connector agents' tunnels: held by this process (a server's gateway) or reached through the server that holds them. */
  tunnels?: Tunnels;
  /** This core's name, as its peers know it (--core-name). */
  coreName?: string;
}

/** Sealed values are bound to their resource and purpose. */
export const blobAad = (id: ResourceId, purpose: string) => `${idKey(id)}#${purpose}`;

export function providerContext(engine: Engine): ProviderContext {
  return {
    store: engine.store,
    key: engine.key,
    outbound: engine.outbound ?? { allowInternal: true },
    tunnels: engine.tunnels,
    coreName: engine.coreName,
    record: (id) => engine.store.getRecord(id),
    async blob(id, purpose) {
      const sealed = await engine.store.getBlob(id, purpose);
      return sealed && engine.key.open(sealed, blobAad(id, purpose));
    },
  };
}

export const show = (id: ResourceId) => displayName(id.kind, id.name, id.tenant);

/** A Kind/tenant/name key as users see it (see show). */
export const showKey = (key: string) => key.replace(/^([^/]+)\/default\//, '$1/');

/** Keys of the resources a stored record points at. */
export function recordReferences(record: StoredRecord): string[] {
  const def = kindNamed(record.kind);
  if (!def) return [];
  try {
    return def.references(record.spec as never).map((r) => idKey({ tenant: record.tenant, kind: r.kind, name: r.name }));
  } catch {
    return []; // a record edited into a shape its kind no longer reads references nothing we can name
  }
}

/** Each resource as the status API lists it, with the counts by readiness: one shape for run and serve. */
export function statusLines(records: StoredRecord[]) {
  const resources = records.map((r) => {
    const ready = readyOf(r.status);
    return { resource: show(r), ready: ready?.status ?? 'Unknown', reason: ready?.reason ?? null, message: ready?.message ?? null, synced: conditionOf(r.status, 'Synced')?.status ?? 'Unknown' };
  });
  const ready = resources.filter((r) => r.ready === 'True').length;
  return { resources, summary: { resources: resources.length, ready, notReady: resources.length - ready } };
}
