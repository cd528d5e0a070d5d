// What the store says of a resource, as `mdmops status` and the console both show it.
import { API_VERSION } from '../api/index.js';
import type { InventoryEntry, StoredRecord } from '../store/types.js';

export function resourceView(r: StoredRecord, inv: InventoryEntry | undefined) {
  return {
    apiVersion: API_VERSION,
    kind: r.kind,
    metadata: { name: r.name, namespace: r.tenant, generation: r.generation, ...r.metadata },
    spec: r.spec,
    status: r.status,
    managed: r.managed,
    ...(inv ? { source: inv.source, revision: inv.revision, appliedAt: inv.appliedAt } : {}),
    updatedAt: r.updatedAt,
  };
}
