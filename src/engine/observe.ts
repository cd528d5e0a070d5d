// How the engine reads a kind's provider: what the plan sees of a resource (its readiness, whether a
// change replaces it, what a reviewer is told, work pending), and the outcome of creating or
// updating it (what the provider made, then observed as it now stands).
import type { Desired } from '../config/desired.js';
import type { StoredRecord } from '../store/types.js';
import { replacing, type FieldDiff } from './diff.js';
import type { Made, Observation, Outcome, Provider, ProviderContext } from './provider.js';

/** Readiness of a resource whose provider says nothing of it: its record is all there is. */
export const RECORDED: Outcome['ready'] = { status: true, reason: 'Recorded', message: 'configuration recorded in the tenant' };

/**
 * The resource observed for a plan. `diffs` is the engine's comparison of the record with the
 * desired input (empty when up to date, everything when there is no record). Changes nothing.
 */
export async function observeResource(provider: Provider, ctx: ProviderContext, desired: Desired, record: StoredRecord | undefined, diffs: FieldDiff[]): Promise<Observation> {
  const replace = record ? replacing(diffs, provider.replaceOn ?? []) : [];
  return {
    outcome: await outcomeOf(provider, ctx, desired, record),
    replace,
    impact: [...(provider.warnings?.(desired) ?? []), ...(record && provider.impact ? await provider.impact(ctx, desired, record, replace) : [])],
    pending: replace.length ? [] : ((await provider.pending?.(ctx, desired, record)) ?? []),
  };
}

/** Creates the resource (no record) or updates it, then observes it as it now stands. */
export async function makeResource(provider: Provider, ctx: ProviderContext, desired: Desired, record: StoredRecord | undefined): Promise<Outcome> {
  const made = record ? await provider.update?.(ctx, desired, record) : await provider.create?.(ctx, desired);
  return outcomeOf(provider, ctx, desired, record, made);
}

/** The status so far (the record's, without the engine's conditions, with what was just made), observed. */
async function outcomeOf(provider: Provider, ctx: ProviderContext, desired: Desired, record: StoredRecord | undefined, made: Made = {}): Promise<Outcome> {
  const { conditions: _conditions, observedGeneration: _generation, ...kept } = record?.status ?? {};
  const status = { ...kept, ...made.status };
  const seen = (await provider.observe?.(ctx, desired, status, record)) ?? {};
  return {
    ready: seen.ready ?? RECORDED,
    status: { ...status, ...seen.status },
    notices: seen.notices ?? [],
    blobs: made.blobs,
    writes: made.writes,
    ...(seen.requeueAfterMs !== undefined ? { requeueAfterMs: seen.requeueAfterMs } : {}),
  };
}
