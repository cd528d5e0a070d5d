// SqlProvisioning: the users of an identity source written into an application's table, as its
// Generic SQL export describes it. A run (run.ts) happens on apply when there are rows to write, after
// each sync of the source, on syncInterval in the long-running modes, and on `mdmops sync`. What the
// last run did is kept in status, and the notifications are read from it.
import { SqlProvisioning } from '../../api/index.js';
import type { Made, Notice, Observed, ProviderContext, SyncOptions, SyncReport } from '../../engine/provider.js';
import type { Desired } from '../../config/desired.js';
import type { SecretResolver } from '../../config/secrets.js';
import type { ResourceId, StoredRecord } from '../../store/types.js';
import { ExpectedError, TerminalError } from '../../util/errors.js';
import { nextSyncAt } from '../source-sync.js';
import { dependencyReady, defineProvider, syncWrites, type SpecOf, type WithSpec } from '../record.js';
import { runProvisioning, type LastRun, type RunOptions, type RunResult } from './run.js';

type Spec = SpecOf<typeof SqlProvisioning>;

const EXPORT = 'spec.managementAgentExport';
const URL = 'spec.connection.urlSecretRef';

/** Notification reasons a run raises or clears. */
export const SQL_REASONS = ['SqlServerUnreachable', 'SqlSchemaMismatch', 'SqlProvisioningBlocked', 'SqlRowsFailed', 'SqlRowConflicts', 'SqlValuesMissing', 'SqlAnchorMissing', 'SqlDeletionsHeld'] as const;

const STOPPED: Partial<Record<LastRun['result'], { reason: (typeof SQL_REASONS)[number]; severity: Notice['severity'] }>> = {
  Unreachable: { reason: 'SqlServerUnreachable', severity: 'Warning' },
  SchemaMismatch: { reason: 'SqlSchemaMismatch', severity: 'Error' },
  Blocked: { reason: 'SqlProvisioningBlocked', severity: 'Warning' },
};

const more = (shown: number, all: number) => (all > shown ? '; ...' : '');

/** Readiness and notifications, from what the last run left in status. Pure. */
export function judge(status: Record<string, unknown>): Observed {
  const run = status.lastRun as LastRun | undefined;
  if (!run) return {};
  const notices: Notice[] = [];
  const stopped = STOPPED[run.result];
  if (stopped) notices.push({ ...stopped, message: String(status.lastError ?? run.result) });
  if (run.failed) notices.push({ reason: 'SqlRowsFailed', severity: 'Warning', message: `${run.failed} users could not be written: ${(run.failedAnchors ?? []).join('; ')}${more(run.failedAnchors?.length ?? 0, run.failed)}` });
  if (run.conflicts) notices.push({ reason: 'SqlRowConflicts', severity: 'Warning', message: `${run.conflicts} rows whose anchor matches a user were not written by this resource and are left alone (${(run.conflictAnchors ?? []).join(', ')}${more(run.conflictAnchors?.length ?? 0, run.conflicts)}); adopt: true takes them over` });
  if (run.missingValues) notices.push({ reason: 'SqlValuesMissing', severity: 'Info', message: `${run.missingValues} users lack a mapped value: written as NULL` });
  if (run.missingAnchor) notices.push({ reason: 'SqlAnchorMissing', severity: 'Warning', message: `${run.missingAnchor} users have no value for the anchor: not provisioned` });
  if (run.deletionsHeld) notices.push({ reason: 'SqlDeletionsHeld', severity: 'Info', message: `${run.deletionsHeld} rows of users gone from the source are kept: the source is not Ready, failed its last sync or holds no users` });
  const ready = stopped ? { status: false, reason: stopped.reason, message: String(status.lastError ?? run.result) } : { status: true, reason: 'Provisioned', message: `${status.rowCount ?? 0} rows provisioned` };
  return { ready, notices };
}

/** The status a run leaves. */
function statusOf(result: RunResult, started: number, before: Record<string, unknown>): Record<string, unknown> {
  return {
    rowCount: result.rowCount ?? before.rowCount,
    lastSyncTime: new Date().toISOString(),
    lastSyncDuration: `${Date.now() - started}ms`,
    lastRun: result.lastRun,
    lastError: result.error,
  };
}

interface Inputs {
  exportXml?: string;
  url?: string;
}

async function run(ctx: ProviderContext, id: ResourceId, spec: Spec, inputs: Inputs, options: RunOptions): Promise<RunResult | undefined> {
  if (!inputs.exportXml || !inputs.url) return undefined; // a missing secret is reported by the engine
  return runProvisioning(ctx, { id: { tenant: id.tenant, kind: id.kind, name: id.name }, spec, exportXml: inputs.exportXml, url: inputs.url }, options);
}

/** The export and the URL of a stored resource: the export sealed at apply, the URL from its secret. */
async function storedInputs(ctx: ProviderContext, secrets: SecretResolver | undefined, record: WithSpec<StoredRecord, Spec>): Promise<Inputs> {
  const exportXml = (await ctx.blob(record, `file:${EXPORT}`))?.toString('utf8');
  const url = await secrets?.resolve(record.tenant, record.spec.connection.urlSecretRef);
  return { exportXml, url };
}

export async function syncSqlProvisioning(ctx: ProviderContext, secrets: SecretResolver, record: WithSpec<StoredRecord, Spec>, options: SyncOptions): Promise<SyncReport> {
  const started = Date.now();
  const inputs = await storedInputs(ctx, secrets, record);
  if (!inputs.url) return { userCount: 0, added: 0, updated: 0, removed: 0, warnings: [], error: `the connection URL is missing: ${secrets.where(record.tenant, record.spec.connection.urlSecretRef)}`, summary: 'no row written' };
  const result = (await run(ctx, record, record.spec, inputs, { allowMassDelete: options.allowMassDelete, progress: options.progress && ((done, total) => options.progress!(done, total, 'rows written')) }))!;
  const at = new Date().toISOString();
  const status = { ...record.status, ...statusOf(result, started, record.status) };
  const judged = judge(status);
  const r = result.lastRun;
  const writes = syncWrites(record, { status, ready: judged.ready, notices: judged.notices ?? [], reasons: SQL_REASONS, at, actor: options.actor, action: 'sync', detail: { inserted: r.inserted, updated: r.updated, deleted: r.deleted, failed: r.failed } });
  await ctx.store.commit(writes);
  const stopped = r.result === 'Unreachable' || r.result === 'SchemaMismatch' || r.result === 'SourceNotReady';
  return {
    userCount: result.rowCount ?? 0,
    added: r.inserted,
    updated: r.updated,
    removed: r.deleted,
    ...(stopped ? { error: result.error } : {}),
    ...(r.result === 'Blocked' ? { blocked: result.error } : {}),
    summary: `${result.rowCount ?? 0} rows (${r.inserted} inserted, ${r.updated} updated, ${r.deleted} deprovisioned${r.failed ? `, ${r.failed} failed` : ''})${r.unchanged ? '; unchanged since the last run: users, layout and table checksum' : ''}`,
    warnings: (judged.notices ?? []).filter((n) => !STOPPED[r.result] || n.reason !== STOPPED[r.result]!.reason).map((n) => n.message),
  };
}

/** A run at apply, when enabled: its status. */
async function provision(ctx: ProviderContext, d: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec> | undefined): Promise<Made> {
  if (!d.spec.enabled) return {};
  const started = Date.now();
  const result = await run(ctx, d.id, d.spec, { exportXml: d.files[EXPORT]?.bytes.toString('utf8'), url: d.secrets[URL]?.value }, { progress: ctx.progress });
  return result ? { status: statusOf(result, started, record?.status ?? {}) } : {};
}

export const sqlProvisioningProvider = defineProvider(SqlProvisioning, {
  async observe(ctx, d, status) {
    const tenant = d.id.tenant;
    const waiting =
      (await dependencyReady(ctx, { tenant, kind: d.spec.sourceRef.kind, name: d.spec.sourceRef.name }, 'Source')) ??
      (d.spec.connectorRef && (await dependencyReady(ctx, { tenant, kind: 'Connector', name: d.spec.connectorRef.name }, 'Connector')));
    const judged = judge(status);
    if (waiting) return { ...judged, ready: waiting.ready };
    if (!d.spec.enabled) return { ...judged, ready: { status: false, reason: 'Disabled', message: 'enabled: false: nothing is provisioned' } };
    return judged;
  },
  /** What a run would write now, for the plan (and the apply that follows). */
  async pending(ctx, d) {
    if (!d.spec.enabled) return [];
    try {
      const result = await run(ctx, d.id, d.spec, { exportXml: d.files[EXPORT]?.bytes.toString('utf8'), url: d.secrets[URL]?.value }, { dryRun: true });
      return result?.work ? [result.work] : [];
    } catch {
      return []; // the run at apply, or the next one, reports it
    }
  },
  create: (ctx, d) => provision(ctx, d, undefined),
  update: provision,
  async delete(ctx, record, policy) {
    if (policy === 'Orphan') return;
    // Its rows go with it, guarded by deletionThreshold.users: all of them go, so their share (always
    // 100%) says nothing, and no --allow-mass-delete reaches a deletion.
    const inputs = await storedInputs(ctx, ctx.secrets, record);
    const owned = await ctx.store.listProvisioned(record);
    if (owned.size) {
      if (!inputs.url) throw new ExpectedError('SecretNotFound', `cannot delete the ${owned.size} rows it provisioned: the connection URL is missing; set deletionPolicy: Orphan to leave them`);
      const most = record.spec.deletionThreshold.users;
      if (owned.size > most) {
        throw new TerminalError('DeletionThresholdExceeded', `its ${owned.size} rows were not deleted: more than deletionThreshold.users (${most}); if it is meant, apply it once with deletionThreshold.users of at least ${owned.size} before removing it, or set deletionPolicy: Orphan to leave them`);
      }
      const result = await runProvisioning(ctx, { id: record, spec: record.spec, exportXml: inputs.exportXml!, url: inputs.url }, { deprovisionAll: true, allowMassDelete: true });
      if (result.error) throw new Error(`its ${owned.size} rows were not deleted: ${result.error}; set deletionPolicy: Orphan to leave them`);
    }
    return [{ op: 'deleteProvisioned', id: { tenant: record.tenant, kind: record.kind, name: record.name } }];
  },
  routes: (spec) => (spec.connectorRef ? [{ connector: spec.connectorRef.name, urlSecretRef: spec.connection.urlSecretRef }] : []),
  sync: syncSqlProvisioning,
  syncDueAt: nextSyncAt,
});
