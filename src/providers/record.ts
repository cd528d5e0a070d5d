// The part every provider shares: the kind's configuration record lives in the tenant store, and
// the engine writes it. A kind registers once, with its api/ definition, and adds what it knows: how
// its readiness is judged, what it makes on creation (keys), which changes replace it, and what it
// cleans up. Its callbacks see the spec typed from the kind's zod schema.
import type { z } from 'zod';
import type { FileSource, KindDefinition } from '../api/index.js';
import { replacing } from '../engine/diff.js';
import type { Desired } from '../config/desired.js';
import type { ConnectorRoute, Notice, Outcome, Provider, ProviderContext, SyncOptions, SyncReport } from '../engine/provider.js';
import { mergeConditions, readyOf, type Condition } from '../engine/status.js';
import type { SecretResolver } from '../config/secrets.js';
import { RouteError, type Dial } from '../net/dial.js';
import type { ResourceId, StoredRecord, Write } from '../store/types.js';

/** A spec as the engine hands it on: a file field holds the digest of its content (its bytes are in Desired.files). */
export type StoredSpec<T> = T extends unknown ? StoredPart<T> : never;
type StoredPart<T> = [T] extends [FileSource] ? ([FileSource] extends [T] ? { sha256: string } : Walk<T>) : Walk<T>;
type Walk<T> = T extends readonly (infer U)[] ? StoredSpec<U>[] : T extends object ? { [K in keyof T]: StoredSpec<T[K]> } : T;

/** The spec of a kind, as its provider sees it. */
export type SpecOf<K extends KindDefinition<z.ZodType>> = StoredSpec<z.output<K['spec']>>;

/** A desired resource or a record, its spec typed. A record's spec is what the tenant holds: mdmops wrote it, or an edit it checked. */
export type WithSpec<T extends { spec: unknown }, Spec> = Omit<T, 'spec'> & { spec: Spec };

export interface KindBehaviour<Spec = Record<string, unknown>> {
  /** Spec fields (top-level names or dotted prefixes) whose change cannot be made in place. */
  replaceOn?: string[];
  /**
   * What the resource looks like now, given its status so far: readiness, status fields, notices.
   * Changes nothing.
   */
  inspect?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, status: Record<string, unknown>, record: WithSpec<StoredRecord, Spec> | undefined): Promise<Partial<Outcome>>;
  /** Work reconcile would do beyond recording the spec (a renewal, certificates to issue). Changes nothing. */
  pending?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec> | undefined): Promise<string[]>;
  /** Makes what the resource needs on creation (record undefined) or update: keys, certificates. */
  reconcile?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec> | undefined): Promise<Made>;
  impact?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec>, replace: string[]): Promise<string[]>;
  /** What a reviewer must be told of the desired spec whenever it changes (a password sent in clear). Pure. */
  warnings?(desired: WithSpec<Desired, Spec>): string[];
  cleanup?(ctx: ProviderContext, record: WithSpec<StoredRecord, Spec>, policy: 'Delete' | 'Orphan'): Promise<Write[] | void>;
  /** Kinds that bring data in (identity sources): one round now, recorded in the store. */
  sync?(ctx: ProviderContext, secrets: SecretResolver, record: WithSpec<StoredRecord, Spec>, options: SyncOptions): Promise<SyncReport>;
  /** The servers the spec names through connectors (see Provider.routes). Pure. */
  routes?(spec: Spec): ConnectorRoute[];
  /** With sync: when the record is next due (0: now), or undefined when it is not synced on a schedule. Pure. */
  syncDueAt?(record: WithSpec<StoredRecord, Spec>): number | undefined;
}

export type Made = Pick<Outcome, 'blobs' | 'status' | 'writes'>;

export const READY: Outcome['ready'] = { status: true, reason: 'Recorded', message: 'configuration recorded in the tenant' };

/** A kind's provider: its api/ definition and what it does beyond keeping its record. */
export function recordProvider<S extends z.ZodType>(def: KindDefinition<S>, typed: KindBehaviour<StoredSpec<z.output<S>>> = {}): Provider {
  // The engine holds specs untyped; they were validated against this kind's schema.
  const b = typed as unknown as KindBehaviour;
  const outcome = async (ctx: ProviderContext, d: Desired, record: StoredRecord | undefined, made: Made = {}): Promise<Outcome> => {
    const { conditions: _c, observedGeneration: _g, ...kept } = record?.status ?? {};
    const status = { ...kept, ...made.status };
    const seen = (await b.inspect?.(ctx, d, status, record)) ?? {};
    return { ready: seen.ready ?? READY, status: { ...status, ...seen.status }, notices: seen.notices ?? [], blobs: made.blobs, writes: made.writes };
  };
  return {
    kind: def.kind,
    replaceOn: b.replaceOn ?? [],
    async observe(ctx, desired, record, diffs) {
      const replace = record ? replacing(diffs, b.replaceOn ?? []) : [];
      return {
        outcome: await outcome(ctx, desired, record),
        replace,
        impact: [...(b.warnings?.(desired) ?? []), ...(record && b.impact ? await b.impact(ctx, desired, record, replace) : [])],
        pending: replace.length ? [] : ((await b.pending?.(ctx, desired, record)) ?? []),
      };
    },
    async create(ctx, desired) {
      return outcome(ctx, desired, undefined, await b.reconcile?.(ctx, desired, undefined));
    },
    async update(ctx, desired, record) {
      return outcome(ctx, desired, record, await b.reconcile?.(ctx, desired, record));
    },
    async delete(ctx, record, policy) {
      return b.cleanup?.(ctx, record, policy);
    },
    ...(b.sync ? { sync: b.sync, syncDueAt: b.syncDueAt } : {}),
    ...(b.routes ? { routes: b.routes } : {}),
  };
}


/** Readiness of a resource this one works through (a connector, a CA, a source). */
export async function dependencyReady(ctx: ProviderContext, id: ResourceId, what: string): Promise<Partial<Outcome> | undefined> {
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
    return ctx.tunnels.dial({ tenant: resource.tenant, connector, host, port, resource: { kind: resource.kind, name: resource.name, spec: resource.spec } });
  };
}

export function unreachable(reason: string, message: string): Partial<Outcome> {
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
