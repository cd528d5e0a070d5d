// What every provider shares: its registration (defineProvider: the kind's api/ definition and the
// provider contract of engine/provider.ts, its spec typed from the kind's zod schema), and the
// helpers kinds use to judge readiness, reach servers through a connector and write a sync's record.
import type { z } from 'zod';
import type { FileSource, KindDefinition } from '../api/index.js';
import type { Notice, Observed, Outcome, Provider, ProviderContext, WithSpec } from '../engine/provider.js';
import { mergeConditions, readyOf, type Condition } from '../engine/status.js';
import { RouteError, type Dial } from '../net/dial.js';
import { socketOver } from '../net/dialed-socket.js';
import type { ResourceId, StoredRecord, Write } from '../store/types.js';

export type { Made, WithSpec } from '../engine/provider.js';

/** A spec as the engine hands it on: a file field holds the digest of its content (its bytes are in Desired.files). */
export type StoredSpec<T> = T extends unknown ? StoredPart<T> : never;
type StoredPart<T> = [T] extends [FileSource] ? ([FileSource] extends [T] ? { sha256: string } : Walk<T>) : Walk<T>;
type Walk<T> = T extends readonly (infer U)[] ? StoredSpec<U>[] : T extends object ? { [K in keyof T]: StoredSpec<T[K]> } : T;

/** The spec of a kind, as its provider sees it. */
export type SpecOf<K extends KindDefinition<z.ZodType>> = StoredSpec<z.output<K['spec']>>;

/** A kind's provider, registered once in providers/index.ts: what it does beyond keeping its record, its spec typed. */
export function defineProvider<S extends z.ZodType>(def: KindDefinition<S>, provider: Omit<Provider<StoredSpec<z.output<S>>>, 'kind'> = {}): Provider {
  // The engine holds specs untyped; every spec it hands a provider was validated against this kind's schema.
  return { kind: def.kind, ...provider } as unknown as Provider;
}

/** Another kind's record, its spec typed (a configuration's CA): stored specs were validated against their kind's schema when written. */
export async function recordOf<S extends z.ZodType>(ctx: ProviderContext, def: KindDefinition<S>, tenant: string, name: string): Promise<WithSpec<StoredRecord, StoredSpec<z.output<S>>> | undefined> {
  return (await ctx.record({ tenant, kind: def.kind, name })) as WithSpec<StoredRecord, StoredSpec<z.output<S>>> | undefined;
}

/** Every record of another kind in a tenant, their specs typed (see recordOf). */
export async function recordsOf<S extends z.ZodType>(ctx: ProviderContext, def: KindDefinition<S>, tenant: string): Promise<WithSpec<StoredRecord, StoredSpec<z.output<S>>>[]> {
  return (await ctx.store.listRecords({ tenant, kind: def.kind })) as WithSpec<StoredRecord, StoredSpec<z.output<S>>>[];
}

/** Readiness of a resource this one works through (a connector, a CA, a source). */
export async function dependencyReady(ctx: ProviderContext, id: ResourceId, what: string): Promise<Observed | undefined> {
  const record = await ctx.record(id);
  const ready = readyOf(record?.status);
  if (ready?.status === 'True') return undefined;
  return {
    ready: { status: false, reason: `${what}NotReady`, message: `${id.kind}/${id.name} is not Ready${ready ? ` (${ready.reason}: ${ready.message})` : ''}` },
  };
}

/**
 * How a resource reaches the servers its spec names through `connector`: its agent's tunnel. The
 * resource goes with each request, so that only what a resource names is ever dialled.
 */
export function throughConnector(ctx: ProviderContext, resource: { tenant: string; kind: string; name: string; spec: Record<string, unknown> }, connector: string): Dial {
  return (host, port) => {
    if (!ctx.tunnels) return Promise.reject(new RouteError(`Connector/${connector}: this process holds no connector tunnels`));
    return ctx.tunnels.dial({ tenant: resource.tenant, connector, host, port, resource: { kind: resource.kind, name: resource.name, spec: resource.spec } }).then(socketOver);
  };
}

export function unreachable(reason: string, message: string): Observed {
  const notice: Notice = { reason, severity: 'Warning', message };
  return { ready: { status: false, reason, message }, notices: [notice] };
}

/**
 * What a sync writes of its record (a sync is not a reconcile, and an apply may be changing the spec
 * meanwhile): its status, with Ready set at once from what the sync found; each of the kind's sync
 * reasons raised or cleared; one audit entry.
 */
export function syncWrites(
  record: StoredRecord,
  o: { status: Record<string, unknown>; ready?: Outcome['ready']; notices: Notice[]; reasons: readonly string[]; at: string; actor: string; action: string; detail: Record<string, unknown> },
): Write[] {
  const id: ResourceId = { tenant: record.tenant, kind: record.kind, name: record.name };
  let status = o.status;
  if (o.ready) {
    const conditions = (record.status.conditions as Condition[] | undefined) ?? [];
    const ready = mergeConditions(conditions, [{ type: 'Ready', status: o.ready.status ? 'True' : 'False', reason: o.ready.reason, message: o.ready.message }], record.generation, o.at);
    status = { ...status, conditions: [...ready, ...conditions.filter((c) => c.type !== 'Ready')] };
  }
  const writes: Write[] = [{ op: 'putStatus', id, status, updatedAt: o.at }];
  for (const reason of o.reasons) {
    const n = o.notices.find((x) => x.reason === reason);
    writes.push(n ? { op: 'notify', notification: { ...id, reason, severity: n.severity, message: n.message, lastSeen: o.at } } : { op: 'resolveNotification', id, reason });
  }
  writes.push({ op: 'audit', entry: { at: o.at, ...id, action: o.action, source: 'sync', revision: '-', actor: o.actor, detail: o.detail } });
  return writes;
}
