// The part every provider shares: the kind's configuration record lives in the tenant store, and
// the engine writes it. A kind adds what it knows: how its readiness is judged, what it makes on
// creation (keys), which changes replace it, and what it cleans up.
import { replacing } from '../engine/diff.js';
import type { Desired } from '../engine/desired.js';
import type { Notice, Outcome, Provider, ProviderContext } from '../engine/provider.js';
import { readyOf } from '../engine/status.js';
import type { ResourceId, StoredRecord, Write } from '../store/types.js';

export interface KindBehaviour {
  kind: string;
  /** Spec fields (top-level names or dotted prefixes) whose change cannot be made in place. */
  replaceOn?: string[];
  /**
   * What the resource looks like now, given its status so far: readiness, status fields, notices.
   * Changes nothing.
   */
  inspect?(ctx: ProviderContext, desired: Desired, status: Record<string, unknown>, record: StoredRecord | undefined): Promise<Partial<Outcome>>;
  /** Work reconcile would do beyond recording the spec (a renewal, certificates to issue). Changes nothing. */
  pending?(ctx: ProviderContext, desired: Desired, record: StoredRecord | undefined): Promise<string[]>;
  /** Makes what the resource needs on creation (record undefined) or update: keys, certificates. */
  reconcile?(ctx: ProviderContext, desired: Desired, record: StoredRecord | undefined): Promise<Made>;
  impact?(ctx: ProviderContext, desired: Desired, record: StoredRecord, replace: string[]): Promise<string[]>;
  /** What a reviewer must be told of the desired spec whenever it changes (a password sent in clear). Pure. */
  warnings?(desired: Desired): string[];
  cleanup?(ctx: ProviderContext, record: StoredRecord, policy: 'Delete' | 'Orphan'): Promise<Write[] | void>;
  sync?: Provider['sync'];
  syncDueAt?: Provider['syncDueAt'];
}

export type Made = Pick<Outcome, 'blobs' | 'status' | 'writes'>;

export const READY: Outcome['ready'] = { status: true, reason: 'Recorded', message: 'configuration recorded in the tenant' };

export function recordProvider(b: KindBehaviour): Provider {
  const outcome = async (ctx: ProviderContext, d: Desired, record: StoredRecord | undefined, made: Made = {}): Promise<Outcome> => {
    const { conditions: _c, observedGeneration: _g, ...kept } = record?.status ?? {};
    const status = { ...kept, ...made.status };
    const seen = (await b.inspect?.(ctx, d, status, record)) ?? {};
    return { ready: seen.ready ?? READY, status: { ...status, ...seen.status }, notices: seen.notices ?? [], blobs: made.blobs, writes: made.writes };
  };
  return {
    kind: b.kind,
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

export function unreachable(reason: string, message: string): Partial<Outcome> {
  const notice: Notice = { reason, severity: 'Warning', message };
  return { ready: { status: false, reason, message }, notices: [notice] };
}
