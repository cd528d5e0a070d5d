// The part every provider shares: the kind's configuration record lives in the tenant store, and
// the engine writes it. A kind adds what it knows: how its readiness is judged, what it makes on
// creation (keys), which changes replace it, and what it cleans up.
import type { FieldDiff } from '../engine/diff.js';
import type { Desired } from '../engine/desired.js';
import type { Notice, Outcome, Provider, ProviderContext } from '../engine/provider.js';
import { readyOf } from '../engine/status.js';
import type { ResourceId, StoredRecord } from '../store/types.js';

export interface KindBehaviour {
  kind: string;
  /** Spec fields (top-level names or dotted prefixes) whose change cannot be made in place. */
  replaceOn?: string[];
  /** What the resource looks like now: readiness, status fields, notices. Changes nothing. */
  inspect?(ctx: ProviderContext, desired: Desired, record: StoredRecord | undefined): Promise<Partial<Outcome>>;
  /** Made when the resource is created or replaced, e.g. a key pair. */
  materialize?(ctx: ProviderContext, desired: Desired): Promise<Pick<Outcome, 'blobs' | 'status'>>;
  impact?(ctx: ProviderContext, desired: Desired, record: StoredRecord, replace: string[]): Promise<string[]>;
  cleanup?(ctx: ProviderContext, record: StoredRecord, policy: 'Delete' | 'Orphan'): Promise<void>;
}

export const READY: Outcome['ready'] = { status: true, reason: 'Recorded', message: 'configuration recorded in the tenant' };

export function recordProvider(b: KindBehaviour): Provider {
  const outcome = async (ctx: ProviderContext, d: Desired, record: StoredRecord | undefined, made?: Pick<Outcome, 'blobs' | 'status'>): Promise<Outcome> => {
    const seen = (await b.inspect?.(ctx, d, made ? undefined : record)) ?? {};
    const { conditions: _c, observedGeneration: _g, ...kept } = (made ? {} : record?.status) ?? {};
    return {
      ready: seen.ready ?? READY,
      status: { ...kept, ...made?.status, ...seen.status },
      notices: seen.notices ?? [],
      blobs: made?.blobs,
    };
  };
  return {
    kind: b.kind,
    async observe(ctx, desired, record, diffs) {
      const replace = record ? replacing(diffs, b.replaceOn ?? []) : [];
      return {
        outcome: await outcome(ctx, desired, record),
        replace,
        impact: record && b.impact ? await b.impact(ctx, desired, record, replace) : [],
      };
    },
    async create(ctx, desired) {
      return outcome(ctx, desired, undefined, await b.materialize?.(ctx, desired));
    },
    async update(ctx, desired, record) {
      return outcome(ctx, desired, record);
    },
    async delete(ctx, record, policy) {
      await b.cleanup?.(ctx, record, policy);
    },
  };
}

function replacing(diffs: FieldDiff[], fields: string[]): string[] {
  const prefixes = fields.map((f) => `spec.${f}`);
  return diffs.map((d) => d.path).filter((p) => prefixes.some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`)));
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
