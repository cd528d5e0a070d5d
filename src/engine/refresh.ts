// Looking at a stored resource again, from the spec the tenant holds, when something outside it
// changed (a connector's agent came or went): its status, conditions and notifications are brought
// up to date, and nothing else is done. The long-running modes call it; apply does the rest.
import { idKey, type Desired } from '../config/desired.js';
import type { ResourceId } from '../store/types.js';
import type { Engine } from './context.js';
import type { Change } from './plan.js';
import { reconcileResource, type Reconciled, type ReconcileRun } from './reconcile.js';

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
