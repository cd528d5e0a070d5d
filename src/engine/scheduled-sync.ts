// Scheduled syncs for the long-running modes: every record whose kind syncs (identity sources) is
// synced when its syncInterval has passed since its last sync. The engine knows no kind: a kind
// takes part by giving its provider a sync.
import { parseDuration } from '../api/duration.js';
import type { Engine } from './context.js';
import { show } from './context.js';
import type { SyncReport } from './provider.js';
import type { SecretResolver } from './secrets.js';
import type { StoredRecord } from '../store/types.js';

/** When a record is next due, or undefined when it is not synced on a schedule. Pure. */
export function nextSyncAt(record: StoredRecord): number | undefined {
  const spec = record.spec as { enabled?: boolean; suspend?: boolean; syncInterval?: string };
  if (!record.managed || spec.enabled === false || spec.suspend === true || !spec.syncInterval) return undefined;
  const last = Date.parse(String(record.status.lastSyncTime ?? ''));
  return Number.isNaN(last) ? 0 : last + parseDuration(spec.syncInterval);
}

export interface SyncRun {
  source: string;
  report: SyncReport;
}

/** Syncs every due source, one after the other (each is a full read of a directory). */
export async function runDueSyncs(engine: Engine, secrets: SecretResolver, actor: string, now = Date.now()): Promise<SyncRun[]> {
  const runs: SyncRun[] = [];
  for (const record of await engine.store.listRecords()) {
    const provider = engine.providers.get(record.kind);
    const due = nextSyncAt(record);
    if (!provider.sync || due === undefined || due > now) continue;
    runs.push({ source: show(record), report: await provider.sync(engine, secrets, record, { actor }) });
  }
  return runs;
}
