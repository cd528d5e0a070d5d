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
import type { Logger } from '../observe/log.js';

export interface SyncRun {
  id: ResourceId;
  /** As users see it: Kind/name (tenant). */
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

/** One sync of the record (none when it finds nothing due), then, unless it failed or was blocked, one of each record that follows it. */
export async function syncWithFollowers(engine: Engine, secrets: SecretResolver, record: StoredRecord, options: SyncOptions): Promise<SyncRun[]> {
  const ctx = providerContext(engine);
  const sync = (r: StoredRecord, o: SyncOptions) => engine.providers.get(r.kind).sync!(ctx, secrets, r, o);
  const first = { id: idOf(record), source: show(record), report: await sync(record, options) };
  if (first.report.idle) return [];
  if (first.report.error || first.report.blocked) return [first];
  const runs = [first];
  for (const follower of await followersOf(engine, record)) {
    const report = await sync(follower, { actor: options.actor, force: true });
    if (!report.idle) runs.push({ id: idOf(follower), source: show(follower), report });
  }
  return runs;
}

const idOf = (r: ResourceId): ResourceId => ({ tenant: r.tenant, kind: r.kind, name: r.name });

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

/** runDueSyncs, each run said in the log as the long-running modes say it. */
export async function runDueSyncsLogged(engine: Engine, secrets: SecretResolver, actor: string, log: Pick<Logger, 'info' | 'warn'>): Promise<SyncRun[]> {
  const runs = await runDueSyncs(engine, secrets, actor);
  for (const { source, report } of runs) {
    const failed = report.error ?? report.blocked;
    const counts = { users: report.userCount, added: report.added, updated: report.updated, removed: report.removed };
    if (failed) log.warn({ source, ...counts }, `scheduled sync of ${source} changed nothing: ${failed}`);
    else log.info({ source, ...counts }, `synced ${source}${report.summary ? `: ${report.summary}` : ''}`);
  }
  return runs;
}
