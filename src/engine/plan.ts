// Plan: observe every desired and every inventoried resource and say what apply would do.
import { POLICY_FIELDS } from '../api/index.js';
import { canonicallyEqual } from '../util/canonical.js';
import { diffSecrets, diffValues, type FieldDiff } from './diff.js';
import { digests, idKey, policiesDiffer, tenantSpecHash, type Desired } from '../config/desired.js';
import { providerContext, recordReferences, show, showKey, type Engine } from './context.js';
import { observeResource } from './observe.js';
import type { Observation, ProviderContext } from './provider.js';
import type { InventoryEntry, ResourceId, StoredRecord } from '../store/types.js';

export type Action = 'create' | 'update' | 'replace' | 'delete' | 'orphan' | 'no-op';

export interface Change {
  key: string;
  id: ResourceId;
  action: Action;
  /** The tenant's record was edited outside mdmops since the last apply. */
  drift: boolean;
  /** managementPolicy Observe: differences are reported, never corrected. */
  observeOnly: boolean;
  /** spec.suspend: left alone. */
  suspended: boolean;
  /** A record mdmops had let go of (or never inventoried) is taken back. */
  adopt: boolean;
  /** Observed or suspended, but its policy settings changed: those alone are recorded. */
  settings: boolean;
  /** Nothing differs, but the record's digests are stale: rewritten, not reported. */
  refresh: boolean;
  diffs: FieldDiff[];
  replaceFields: string[];
  impact: string[];
  /** Resources that reference this one. */
  dependents: string[];
  /** Keys of the resources this one references. */
  dependsOn: string[];
  desired?: Desired;
  record?: StoredRecord;
  observation?: Observation;
}

export interface PlanProblem {
  key?: string;
  message: string;
  hint?: string;
}

export interface Plan {
  source: string;
  revision: string;
  changes: Change[];
  /** A plan with problems is not applied. */
  problems: PlanProblem[];
}

export interface PlanOptions {
  source: string;
  revision: string;
  allowMassDelete?: boolean;
}

const OBSERVE_CONCURRENCY = 32;
const POLICY_PATHS = new Set(POLICY_FIELDS.map((f) => `spec.${f}`));

/**
 * Above either, a prune needs --allow-mass-delete. The fraction counts only from `minimum`
 * deletions on: in a tenant of three resources, removing two is not a mass deletion.
 */
export const MASS_DELETE = { count: 10, fraction: 0.25, minimum: 5 };

const massDelete = (doomed: number, owned: number) => doomed > MASS_DELETE.count || (doomed >= MASS_DELETE.minimum && doomed > owned * MASS_DELETE.fraction);

export const hasChanges = (plan: Plan) => plan.changes.some((c) => c.action !== 'no-op' || c.adopt || c.settings);

export async function makePlan(engine: Engine, desired: Desired[], options: PlanOptions): Promise<Plan> {
  const [records, inventory] = await Promise.all([engine.store.listRecords(), engine.store.listInventory()]);
  const recordOf = new Map(records.map((r) => [idKey(r), r]));
  const inventoryOf = new Map(inventory.map((e) => [idKey(e), e]));
  const desiredKeys = new Set(desired.map((d) => d.key));
  const problems: PlanProblem[] = [];
  // What observing reads of other resources (the CA a configuration uses, a connector) comes from
  // the records just read: one view of the tenant, not thousands of reads.
  const ctx: ProviderContext = { ...providerContext(engine), record: async (id) => recordOf.get(idKey(id)) };

  for (const d of desired) {
    const owner = inventoryOf.get(d.key);
    if (owner && owner.source !== options.source) problems.push(ownedElsewhere(d, owner));
  }
  // Observing may wait on servers: many at once, in input order. A few observers take the next
  // resource in turn, rather than ten thousand calls queued behind a limiter.
  const changes: Change[] = new Array(desired.length);
  let next = 0;
  const observer = async () => {
    while (next < desired.length) {
      const i = next++;
      const d = desired[i]!;
      changes[i] = await observeOne(engine, ctx, d, recordOf.get(d.key), inventoryOf.get(d.key));
    }
  };
  await Promise.all(Array.from({ length: OBSERVE_CONCURRENCY }, observer));

  const doomed: Change[] = [];
  for (const entry of inventory) {
    const key = idKey(entry);
    if (entry.source !== options.source || desiredKeys.has(key)) continue;
    doomed.push(pruneOne(entry, recordOf.get(key)));
  }
  changes.push(...doomed);

  // References: who points at whom, across the input and everything else in the tenant.
  const gone = new Set(doomed.filter((c) => c.action === 'delete').map((c) => c.key));
  const doomedKeys = new Set(doomed.map((c) => c.key));
  const referrers = new Map<string, string[]>();
  const addReferrer = (from: string, to: string) => {
    if (!referrers.has(to)) referrers.set(to, []);
    referrers.get(to)!.push(from);
  };
  for (const c of changes) {
    if (c.desired) c.dependsOn = referencesOf(c.desired);
    // A pruned resource depends on what its record references: apply removes dependents first.
    else if (c.record) c.dependsOn = recordReferences(c.record);
    for (const to of c.dependsOn) addReferrer(c.key, to);
  }
  for (const r of records) {
    const key = idKey(r);
    if (desiredKeys.has(key) || doomedKeys.has(key)) continue;
    for (const to of recordReferences(r)) addReferrer(key, to);
  }
  // An orphaned record (deletionPolicy Orphan) is no longer managed: it may keep naming what it
  // referenced, and does not hold it back (mdmops tenant forget removes it when it is not wanted).
  const letGo = new Set([...records.filter((r) => !r.managed).map(idKey), ...doomed.filter((c) => c.action === 'orphan').map((c) => c.key)]);
  for (const c of changes) {
    c.dependents = (referrers.get(c.key) ?? []).map(showKey).sort();
    if (c.action === 'delete') {
      const keeping = (referrers.get(c.key) ?? []).filter((k) => !gone.has(k) && !letGo.has(k));
      if (keeping.length) {
        problems.push({
          key: c.key,
          message: `cannot delete ${show(c.id)}: still referenced by ${keeping.map(showKey).join(', ')}`,
          hint: 'remove or change those references first',
        });
      }
    }
  }

  const owned = inventory.filter((e) => e.source === options.source).length;
  if (doomed.length && !options.allowMassDelete && massDelete(doomed.length, owned)) {
    problems.push({
      message: `this would delete ${doomed.length} of the ${owned} resources applied from source "${options.source}" (more than ${MASS_DELETE.count}, or ${MASS_DELETE.minimum} or more and more than ${MASS_DELETE.fraction * 100}%)`,
      hint: 'check that the whole configuration was given with -f; if the deletions are meant, add --allow-mass-delete',
    });
  }
  return { source: options.source, revision: options.revision, changes, problems };
}

/**
 * The plan of one resource alone, as the controller reconciles one custom resource (its own source):
 * its record, its inventory entry and its references are read, not the whole tenant.
 */
export async function planResource(engine: Engine, d: Desired, options: PlanOptions): Promise<Plan> {
  const [record, owner] = await Promise.all([engine.store.getRecord(d.id), engine.store.getInventory(d.id)]);
  const change = await observeOne(engine, providerContext(engine), d, record, owner);
  change.dependsOn = referencesOf(d);
  return { source: options.source, revision: options.revision, changes: [change], problems: owner && owner.source !== options.source ? [ownedElsewhere(d, owner)] : [] };
}

const referencesOf = (d: Desired) => d.references.map((r) => idKey({ tenant: d.id.tenant, kind: r.kind, name: r.name }));

const ownedElsewhere = (d: Desired, owner: InventoryEntry): PlanProblem => ({
  key: d.key,
  message: `${show(d.id)} is managed by source "${owner.source}" (revision ${owner.revision})`,
  hint: `apply it with --source ${owner.source}, or remove it from that source first`,
});

async function observeOne(
  engine: Engine,
  ctx: ProviderContext,
  d: Desired,
  record: StoredRecord | undefined,
  owner: InventoryEntry | undefined,
): Promise<Change> {
  const spec = d.spec;
  // Begins with its own fields, not a spread of shared ones: an object that begins with a spread
  // gets a hidden class of its own in V8, in each of the ten thousand changes of a large plan.
  type Rest = Omit<Change, 'key' | 'id' | 'desired' | 'record' | 'dependents' | 'dependsOn' | 'replaceFields' | 'impact'> & Partial<Change>;
  const change = (rest: Rest): Change => ({ key: d.key, id: d.id, desired: d, record, dependents: [], dependsOn: [], replaceFields: [], impact: [], ...rest });
  const suspended = spec.suspend === true;
  const observeOnly = spec.managementPolicy === 'Observe';
  // The record's spec is hashed only when it is not the desired one (whose hash desiredOf made).
  const recordSpecHash = record && (canonicallyEqual(record.spec, spec) ? d.specHash : tenantSpecHash(record.spec));
  const drift = !!record && recordSpecHash !== record.specHash;
  const upToDate = !!record && !drift && record.desiredHash === d.desiredHash;
  const adopt = !!record && (!record.managed || !owner);
  // Settings are recorded even where the resource itself is left alone: prune reads deletionPolicy.
  const settings = !!record && (suspended || observeOnly) && policiesDiffer(record.spec, spec);
  if (suspended) return change({ action: 'no-op', drift, observeOnly, suspended, adopt: false, settings, refresh: false, diffs: [] });

  if (observeOnly && !record) {
    return change({ action: 'no-op', drift: false, observeOnly, suspended, adopt: false, settings: false, refresh: false, diffs: [], impact: ['managementPolicy Observe: not found in the tenant, and not created'] });
  }
  let diffs = upToDate ? [] : [...diffValues(record?.metadata ?? {}, d.metadata ?? {}, 'metadata'), ...diffValues(record?.spec ?? {}, spec, 'spec'), ...diffSecrets(record?.secrets ?? {}, digests(d.secrets))];
  if (observeOnly) diffs = diffs.filter((x) => !POLICY_PATHS.has(x.path));
  const observation = await observeResource(engine.providers.get(d.id.kind), ctx, d, record, diffs);
  // The tenant already holds what is desired and only the digests of the last apply are stale (an
  // export of an edited tenant, a store from an older mdmops): recorded quietly, not a change.
  const refresh = !!record && !upToDate && diffs.length === 0 && !observeOnly;
  // Work the kind has to do although nothing in the spec changed (a renewal) makes it an update.
  const pending = observeOnly ? [] : (observation.pending ?? []);
  let action: Action = !record ? 'create' : diffs.length ? (observation.replace.length ? 'replace' : 'update') : pending.length ? 'update' : 'no-op';
  if (observeOnly) action = 'no-op';
  return change({
    action,
    drift: drift && diffs.length > 0,
    observeOnly,
    suspended,
    adopt: adopt && !observeOnly,
    settings,
    refresh,
    diffs,
    replaceFields: observation.replace,
    impact: [...(diffs.length ? observation.impact : []), ...pending],
    observation,
  });
}

function pruneOne(entry: InventoryEntry, record: StoredRecord | undefined): Change {
  const policy = record?.spec.deletionPolicy === 'Orphan' ? 'orphan' : 'delete';
  return {
    key: idKey(entry),
    id: { tenant: entry.tenant, kind: entry.kind, name: entry.name },
    action: policy,
    drift: false,
    observeOnly: false,
    suspended: false,
    adopt: false,
    settings: false,
    refresh: false,
    diffs: [],
    replaceFields: [],
    impact: record ? [] : ['already gone from the tenant: only the inventory entry is removed'],
    dependents: [],
    dependsOn: [],
    record,
  };
}
