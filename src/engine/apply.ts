// Apply: carry out a plan. Dependencies first, independent resources in parallel (bounded);
// a failed resource blocks only its dependents. Each resource's writes commit in one transaction,
// so a crash leaves every resource either done or untouched. A stop signal ends an apply early the
// same way: resources not yet started are left untouched, those under way finish.
import { canonical } from '../util/canonical.js';
import type { AuditEntry, Notification, StoredRecord, Write } from '../store/types.js';
import { blobAad, providerContext, show, type Engine } from './context.js';
import { digests, idKey, withPolicies } from './desired.js';
import { limiter } from '../util/limit.js';
import type { Change, Plan } from './plan.js';
import type { Notice, Outcome } from './provider.js';
import type { SecretResolver } from '../config/secrets.js';
import { conditionOf, mergeConditions, type ConditionInput } from './status.js';

export type ResultState = 'done' | 'unchanged' | 'skipped' | 'failed' | 'blocked' | 'cancelled';

export interface ResourceResult {
  key: string;
  change: Change;
  state: ResultState;
  /** What was done, when it differs from the plan (work found at apply makes a no-op an update). */
  action?: Change['action'];
  ready?: boolean;
  reason?: string;
  message?: string;
}

export interface ApplyOptions {
  concurrency?: number;
  actor: string;
  secrets: SecretResolver;
  /** Called as a resource's long work advances (see ProviderContext.progress). */
  onProgress?: (change: Change, done: number, total: number, unit: string) => void;
  /** Called as each resource finishes: progress for long runs. */
  onResult?: (result: ResourceResult, done: number, total: number) => void;
  now?: () => string;
  /** Once aborted, no further resource starts (state cancelled); those under way finish and commit. */
  signal?: AbortSignal;
  /** Added to every audit entry's detail (e.g. the commit a revision came from). */
  auditDetail?: Record<string, unknown>;
}

export interface ApplyResult {
  results: ResourceResult[];
  writes: number;
}

export async function applyPlan(engine: Engine, plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  if (plan.problems.length) throw new Error('a plan with problems cannot be applied');
  const writesBefore = engine.store.writes;
  const active = groupNotifications(await engine.store.listNotifications({ active: true }));
  const run = limiter(options.concurrency ?? 8);
  const ctx = providerContext(engine);
  const now = options.now ?? (() => new Date().toISOString());
  const total = plan.changes.length;
  const results: ResourceResult[] = [];
  const finish = (r: ResourceResult) => {
    results.push(r);
    options.onResult?.(r, results.length, total);
    return r;
  };

  const execute = async (c: Change): Promise<ResourceResult> => {
    try {
      return await applyOne(c);
    } catch (e) {
      const message = (e as Error).message;
      const writes: Write[] = [notify(c, { reason: 'ReconcileFailed', severity: 'Error', message }, now())];
      if (c.record) writes.push({ op: 'putRecord', record: withConditions(c.record, [synced(false, 'ReconcileError', message)], now()) });
      await engine.store.commit(writes).catch(() => undefined);
      return { key: c.key, change: c, state: 'failed', ready: false, reason: 'ReconcileFailed', message };
    }
  };

  const applyOne = async (c: Change): Promise<ResourceResult> => {
    const at = now();
    const audit = (action: string, detail: Record<string, unknown> = {}): Write => ({
      op: 'audit',
      entry: { at, ...c.id, action, source: plan.source, revision: plan.revision, actor: options.actor, detail: { ...options.auditDetail, ...detail } } satisfies AuditEntry,
    });
    if (c.suspended) {
      if (c.settings) await engine.store.commit([{ op: 'putRecord', record: { ...c.record!, spec: withPolicies(c.record!.spec, c.desired!.spec), updatedAt: at } }, audit('settings')]);
      return { key: c.key, change: c, state: 'skipped', reason: 'Suspended', message: 'spec.suspend is true: left alone' };
    }

    const provider = engine.providers.get(c.id.kind);
    if (c.action === 'delete' || c.action === 'orphan') {
      const writes: Write[] = [{ op: 'deleteInventory', id: c.id }, audit(c.action)];
      if (c.record) {
        writes.push(...((await provider.delete(ctx, c.record, c.action === 'delete' ? 'Delete' : 'Orphan')) ?? []));
        if (c.action === 'delete') writes.push({ op: 'deleteRecord', id: c.id }, { op: 'deleteBlobs', id: c.id });
        else writes.push({ op: 'putRecord', record: { ...withConditions(c.record, [synced(false, 'Orphaned', 'removed from the configuration; kept by deletionPolicy Orphan and no longer managed')], at), managed: false } });
      }
      for (const reason of active.get(c.key)?.keys() ?? []) writes.push({ op: 'resolveNotification', id: c.id, reason });
      await engine.store.commit(writes);
      return { key: c.key, change: c, state: 'done' };
    }

    const d = c.desired!;
    const working = options.onProgress ? { ...ctx, progress: (done: number, total: number, unit: string) => options.onProgress!(c, done, total, unit) } : ctx;
    if (c.observeOnly && !c.record) return { key: c.key, change: c, state: 'unchanged', ready: false, reason: 'NotFound', message: c.impact[0] };
    let outcome: Outcome | undefined;
    let action = c.action;
    const writes: Write[] = [];
    if (c.observeOnly || action === 'no-op') {
      // Observed again now that what it depends on has been applied: that may give it work (a CA
      // replaced in this apply re-issues what it signed).
      const seen = await provider.observe(ctx, d, c.record, c.diffs);
      if (!c.observeOnly && seen.pending?.length) action = 'update';
      else outcome = seen.outcome;
    }
    if (action === 'create') {
      outcome = await provider.create(working, d);
    } else if (action === 'replace') {
      writes.push(...((await provider.delete(ctx, c.record!, 'Delete')) ?? []), { op: 'deleteBlobs', id: c.id });
      outcome = await provider.create(working, d);
    } else if (action === 'update') {
      outcome = await provider.update(working, d, c.record!);
    }
    if (!outcome) throw new Error(`no outcome for ${show(c.id)}`);

    // A missing secret is the same story for every kind: recorded, not Ready, and said where to put it.
    const missing = Object.entries(d.secrets).filter(([, s]) => s.value === undefined);
    const notices: Notice[] = [...(outcome.notices ?? [])];
    if (missing.length) {
      const message = missing.map(([path, s]) => `secret ${s.ref.name}/${s.ref.key} (${path}) not found: ${options.secrets.where(d.id.tenant, s.ref)}`).join('; ');
      outcome = { ...outcome, ready: { status: false, reason: 'SecretNotFound', message } };
      notices.push({ reason: 'SecretNotFound', severity: 'Warning', message });
    }
    if (c.observeOnly && c.diffs.length) {
      notices.push({ reason: 'DriftDetected', severity: 'Warning', message: `differs from the configuration (${c.diffs.map((x) => x.path).join(', ')}); managementPolicy Observe leaves it as it is` });
    }

    const changed = !c.observeOnly && action !== 'no-op';
    const base = c.record;
    const generation = !base ? 1 : changed && base.specHash !== d.specHash ? base.generation + 1 : base.generation;
    const syncedCondition = c.observeOnly
      ? c.diffs.length
        ? synced(false, 'DriftDetected', 'managementPolicy Observe: differences are reported, not corrected')
        : synced(true, 'Observed', 'matches the configuration')
      : changed
        ? synced(true, 'ReconcileSuccess', `${action === 'update' && c.drift ? 'drift corrected' : `${action}d`} from revision ${plan.revision}`)
        : (keptSynced(base) ?? synced(true, 'ReconcileSuccess', 'up to date'));
    const conditions = mergeConditions(
      base?.status.conditions,
      [syncedCondition, { type: 'Ready', status: outcome.ready.status ? 'True' : 'False', reason: outcome.ready.reason, message: outcome.ready.message }],
      generation,
      at,
    );
    const status = { ...(outcome.status ?? {}), conditions };

    if (changed || c.adopt || c.refresh) {
      const record: StoredRecord = {
        ...c.id,
        spec: d.spec,
        specHash: d.specHash,
        desiredHash: d.desiredHash,
        generation,
        files: Object.fromEntries(Object.entries(d.files).map(([path, f]) => [path, { name: f.name }])),
        secrets: digests(d.secrets),
        status,
        managed: true,
        updatedAt: at,
        ...(d.metadata ? { metadata: d.metadata } : {}),
      };
      writes.push({ op: 'putRecord', record });
      for (const [path, f] of Object.entries(d.files)) writes.push(sealed(engine, c, `file:${path}`, f.bytes));
      for (const b of outcome.blobs ?? []) writes.push(sealed(engine, c, b.purpose, b.value));
      writes.push(...(outcome.writes ?? []));
      writes.push({ op: 'putInventory', entry: { ...c.id, source: plan.source, revision: plan.revision, appliedAt: at } });
      const what = c.adopt && action === 'no-op' ? 'adopt' : c.drift && action === 'update' ? 'correct-drift' : action;
      if (changed || c.adopt) writes.push(audit(what, { fields: c.diffs.map((x) => x.path), ...(c.impact.length ? { work: c.impact } : {}) }));
    } else if (base && (c.settings || statusChanged(base.status, status))) {
      writes.push({ op: 'putRecord', record: { ...base, spec: withPolicies(base.spec, d.spec), status } });
      if (c.settings) writes.push(audit('settings'));
    }

    // Raised when it starts (or says something new), not on every look: a condition that
    // persists costs no write, and its count says how often it began.
    const seen = active.get(c.key);
    for (const n of notices) {
      const open = seen?.get(n.reason);
      if (!open || open.message !== n.message || open.severity !== n.severity) writes.push(notify(c, n, at));
    }
    for (const reason of seen?.keys() ?? []) if (!notices.some((n) => n.reason === reason)) writes.push({ op: 'resolveNotification', id: c.id, reason });

    await engine.store.commit(writes);
    return {
      key: c.key,
      change: c,
      state: changed || c.adopt || c.settings ? 'done' : 'unchanged',
      action,
      ready: outcome.ready.status,
      reason: outcome.ready.reason,
      message: outcome.ready.message,
    };
  };

  const startOrCancel = (c: Change): Promise<ResourceResult> =>
    options.signal?.aborted
      ? Promise.resolve({ key: c.key, change: c, state: 'cancelled', reason: 'Interrupted', message: 'not started: the apply was stopped' })
      : execute(c);

  // Creates, updates and refreshes in dependency order; a failure blocks what depends on it.
  const upserts = plan.changes.filter((c) => c.desired);
  const byKey = new Map(upserts.map((c) => [c.key, c]));
  const started = new Map<string, Promise<ResourceResult>>();
  const start = (c: Change): Promise<ResourceResult> => {
    let p = started.get(c.key);
    if (!p) {
      p = (async () => {
        const deps = await Promise.all(c.dependsOn.filter((k) => byKey.has(k) && k !== c.key).map((k) => start(byKey.get(k)!)));
        const failed = deps.filter((r) => r.state === 'failed' || r.state === 'blocked');
        if (failed.length) {
          return finish({ key: c.key, change: c, state: 'blocked', ready: false, reason: 'DependencyFailed', message: `waits for ${failed.map((r) => show(r.change.id)).join(', ')}, which did not apply` });
        }
        return finish(await run(() => startOrCancel(c)));
      })();
      started.set(c.key, p);
    }
    return p;
  };
  await Promise.all(upserts.map(start));

  // Deletions last, dependents before what they depend on.
  const deletes = plan.changes.filter((c) => !c.desired);
  const deleting = new Map(deletes.map((c) => [c.key, c]));
  const dependentsOf = new Map<string, Change[]>();
  for (const c of deletes) for (const k of c.dependsOn) if (deleting.has(k)) dependentsOf.set(k, [...(dependentsOf.get(k) ?? []), c]);
  const removed = new Map<string, Promise<ResourceResult>>();
  const remove = (c: Change): Promise<ResourceResult> => {
    let p = removed.get(c.key);
    if (!p) {
      p = (async () => {
        const before = await Promise.all((dependentsOf.get(c.key) ?? []).map(remove));
        // A dependent left by a stop means this one is not started either (the signal is set).
        if (before.some((r) => r.state !== 'done' && r.state !== 'cancelled')) return finish({ key: c.key, change: c, state: 'blocked', reason: 'DependentNotDeleted', message: 'a resource referencing it was not deleted' });
        return finish(await run(() => startOrCancel(c)));
      })();
      removed.set(c.key, p);
    }
    return p;
  };
  await Promise.all(deletes.map(remove));

  return { results, writes: engine.store.writes - writesBefore };
}

function sealed(engine: Engine, c: Change, purpose: string, value: Buffer): Write {
  return { op: 'putBlob', id: c.id, purpose, sealed: engine.key.seal(value, blobAad(c.id, purpose)) };
}

const synced = (ok: boolean, reason: string, message: string): ConditionInput => ({ type: 'Synced', status: ok ? 'True' : 'False', reason, message });

/** A no-op keeps the Synced condition that says what last changed it. */
function keptSynced(record: StoredRecord | undefined): ConditionInput | undefined {
  const c = conditionOf(record?.status, 'Synced');
  return c?.status === 'True' ? { type: c.type, status: c.status, reason: c.reason, message: c.message } : undefined;
}

function withConditions(record: StoredRecord, next: ConditionInput[], at: string): StoredRecord {
  const kept = ((record.status.conditions as ConditionInput[] | undefined) ?? []).filter((c) => !next.some((n) => n.type === c.type));
  return { ...record, status: { ...record.status, conditions: [...mergeConditions(record.status.conditions, next, record.generation, at), ...kept] } };
}

function notify(c: Change, n: Notice, at: string): Write {
  return { op: 'notify', notification: { ...c.id, reason: n.reason, severity: n.severity, message: n.message, lastSeen: at } };
}

function statusChanged(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return canonical(a) !== canonical(b);
}

function groupNotifications(list: Notification[]): Map<string, Map<string, Notification>> {
  const m = new Map<string, Map<string, Notification>>();
  for (const n of list) {
    const key = idKey(n);
    if (!m.has(key)) m.set(key, new Map());
    m.get(key)!.set(n.reason, n);
  }
  return m;
}
