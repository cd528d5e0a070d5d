// Looking at a stored resource again, from the spec the tenant holds, when something outside it
// changed (a connector's agent came or went): its status, conditions and notifications are brought
// up to date, and nothing else is done. The long-running modes call it; apply does the rest.
import { idKey, type Desired } from '../config/desired.js';
import type { ResourceId } from '../store/types.js';
import { recordReferences, type Engine } from './context.js';
import type { Change } from './plan.js';
import { reconcileResource, type Reconciled, type ReconcileRun } from './reconcile.js';
import { readyOf } from './status.js';

export async function refreshStatus(engine: Engine, id: ResourceId, run: ReconcileRun): Promise<Reconciled | undefined> {
  const record = await engine.store.getRecord(id);
  if (!record?.managed) return undefined;
  const key = idKey(id);
  const desired: Desired = { id, key, spec: record.spec, references: [], files: {}, secrets: {}, specHash: record.specHash, desiredHash: record.desiredHash, ...(record.metadata ? { metadata: record.metadata } : {}) };
  const change: Change = {
    key,
    id,
    action: 'no-op',
    drift: false,
    observeOnly: record.spec.managementPolicy === 'Observe',
    suspended: record.spec.suspend === true,
    adopt: false,
    settings: false,
    refresh: false,
    diffs: [],
    replaceFields: [],
    impact: [],
    dependents: [],
    dependsOn: [],
    desired,
    record,
  };
  return reconcileResource(engine, change, { ...run, statusOnly: true });
}

/**
 * A connector's agent came or went: the connector is looked at again and, when its readiness
 * changed, so is what reaches its servers through it (an LdapSource, a SCEP CA) and what waits on
 * those in turn, so that each says whether it still waits.
 */
export async function refreshWithDependents(engine: Engine, id: ResourceId, run: ReconcileRun): Promise<void> {
  const readiness = (status: Record<string, unknown> | undefined) => {
    const ready = readyOf(status);
    return `${ready?.status}/${ready?.reason}`;
  };
  const before = readiness((await engine.store.getRecord(id))?.status);
  const done = await refreshStatus(engine, id, run);
  if (!done?.record || readiness(done.record.status) === before) return;
  const records = await engine.store.listRecords({ tenant: id.tenant });
  const seen = new Set([idKey(id)]);
  for (let wave = [idKey(id)]; wave.length; ) {
    const next = records.filter((r) => !seen.has(idKey(r)) && recordReferences(r).some((k) => wave.includes(k)));
    for (const r of next) {
      seen.add(idKey(r));
      await refreshStatus(engine, r, run);
    }
    wave = next.map(idKey);
  }
}
