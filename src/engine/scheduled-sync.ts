// Syncs: a kind takes part by giving its provider a sync and a syncDueAt (identity sources, SQL
// provisioning). The long-running modes sync every record when its provider says it is due; a sync
// is followed by the syncs of the records that reference the synced one (a SqlProvisioning after
// its source), so that what a source brings in goes on at once. The engine knows no kind.
import { kindNamed } from '../api/index.js';
import type { Engine } from './context.js';
import { providerContext, show } from './context.js';
import type { SyncOptions, SyncReport } from './provider.js';
import type { SecretResolver } from '../config/secrets.js';
import type { ResourceId, StoredRecord } from '../store/types.js';

export interface SyncRun {
  source: string;
  report: SyncReport;
}

/** Syncs every due record, one after the other (each is a full read of a directory or a table). */
export async function runDueSyncs(engine: Engine, secrets: SecretResolver, actor: string, now = Date.now()): Promise<SyncRun[]> {
  const runs: SyncRun[] = [];
  const done = new Set<string>();
  for (const record of await engine.store.listRecords()) {
    const due = engine.providers.get(record.kind).syncDueAt?.(record);
    if (due === undefined || due > now || done.has(show(record))) continue;
    for (const run of await syncWithFollowers(engine, secrets, record, { actor })) {
      done.add(run.source);
      runs.push(run);
    }
  }
  return runs;
}

/** One sync of the record, then, unless it failed or was blocked, one of each record that follows it. */
export async function syncWithFollowers(engine: Engine, secrets: SecretResolver, record: StoredRecord, options: SyncOptions): Promise<SyncRun[]> {
  const ctx = providerContext(engine);
  const sync = (r: StoredRecord, o: SyncOptions) => engine.providers.get(r.kind).sync!(ctx, secrets, r, o);
  const first = { source: show(record), report: await sync(record, options) };
  if (first.report.error || first.report.blocked) return [first];
  const runs = [first];
  for (const follower of await followersOf(engine, record)) runs.push({ source: show(follower), report: await sync(follower, { actor: options.actor }) });
  return runs;
}

/** The managed, enabled records that sync and reference `id`. */
async function followersOf(engine: Engine, id: ResourceId): Promise<StoredRecord[]> {
  return (await engine.store.listRecords({ tenant: id.tenant })).filter(
    (r) =>
      r.managed &&
      r.spec.enabled !== false &&
      r.spec.suspend !== true &&
      !!engine.providers.get(r.kind).sync &&
      (kindNamed(r.kind)?.references(r.spec as never) ?? []).some((ref) => ref.kind === id.kind && ref.name === id.name),
  );
}
