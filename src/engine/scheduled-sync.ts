// Scheduled syncs for the long-running modes: every record whose kind syncs (identity sources) is
// synced when its provider says it is due. The engine knows no kind: a kind takes part by giving
// its provider a sync and a syncDueAt.
import type { Engine } from './context.js';
import { providerContext, show } from './context.js';
import type { SyncReport } from './provider.js';
import type { SecretResolver } from '../config/secrets.js';

export interface SyncRun {
  source: string;
  report: SyncReport;
}

/** Syncs every due source, one after the other (each is a full read of a directory). */
export async function runDueSyncs(engine: Engine, secrets: SecretResolver, actor: string, now = Date.now()): Promise<SyncRun[]> {
  const runs: SyncRun[] = [];
  for (const record of await engine.store.listRecords()) {
    const provider = engine.providers.get(record.kind);
    const due = provider.syncDueAt?.(record);
    if (!provider.sync || due === undefined || due > now) continue;
    runs.push({ source: show(record), report: await provider.sync(providerContext(engine), secrets, record, { actor }) });
  }
  return runs;
}
