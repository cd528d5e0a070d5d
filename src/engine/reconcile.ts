// The reconcile of one resource, the same in every mode (apply, the GitOps loop, the controller):
// given its planned change, act on it (create, update, replace, delete or orphan, or look again),
// set its conditions, raise and resolve its notifications, and commit what it wrote in one
// transaction, so that a crash leaves it either done or untouched. It returns what became of it and
// when to look again, as controller-runtime's RequeueAfter does.
import type { SecretResolver } from '../config/secrets.js';
import type { AuditEntry, Notification, StoredRecord, Write } from '../store/types.js';
import { canonical, canonicallyEqual } from '../util/canonical.js';
import { ExpectedError, isTerminal } from '../util/errors.js';
import { messageOf } from '../util/message-of.js';
import { blobAad, providerContext, show, type Engine } from './context.js';
import { idKey, recordOf, withPolicies } from '../config/desired.js';
import type { Change } from './plan.js';
import { makeResource, observeResource } from './observe.js';
import type { Notice, Outcome } from './provider.js';
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
  /** It failed in a way retrying cannot fix (a TerminalError): not tried again until its input changes. */
  terminal?: boolean;
  /** Not tried: an earlier terminal failure of the same input, reported again (see ApplyOptions.held). */
  held?: boolean;
}

export interface Reconciled extends ResourceResult {
  /** The record as it stands after the reconcile; undefined when it is gone (or was never made). */
  record?: StoredRecord;
  /** Notifications raised or changed by this reconcile (the controller turns them into Events). */
  raised: Notice[];
  /** When to look again: the resource waits on something outside, or has work due later. */
  requeueAfterMs?: number;
}

/** The run a reconcile is part of: who applies, from which source and revision. */
export interface ReconcileRun {
  source: string;
  revision: string;
  actor: string;
  secrets: SecretResolver;
  /** Added to every audit entry's detail (e.g. the commit a revision came from). */
  auditDetail?: Record<string, unknown>;
  now?: () => string;
  /** The resource's active notifications by reason; read from the store when not given. */
  notifications?: Map<string, Notification>;
  /** Long work says how far it is (see ProviderContext.progress). */
  onProgress?: (done: number, total: number, unit: string) => void;
  /** Only look again (see refresh.ts): work found pending is left to the next apply. */
  statusOnly?: boolean;
}

/** A resource not Ready because it waits on something outside (a server, a secret) is looked at again after this. */
export const WAITING_REQUEUE_MS = 30_000;

export async function reconcileResource(engine: Engine, c: Change, run: ReconcileRun): Promise<Reconciled> {
  const now = run.now ?? (() => new Date().toISOString());
  const notifications = run.notifications ?? (await activeNotificationsOf(engine, c));
  try {
    return await act(engine, c, run, now(), notifications);
  } catch (e) {
    // Said in the resource's Synced condition and a notification: an expected failure by its own
    // reason, an unexpected one as ReconcileFailed. Tried again later unless it is terminal.
    const message = messageOf(e);
    const expected = e instanceof ExpectedError;
    const failure: Notice = { reason: expected ? e.reason : 'ReconcileFailed', severity: 'Error', message };
    const writes: Write[] = [notify(c, failure, now())];
    const record = c.record && withConditions(c.record, [synced(false, expected ? e.reason : 'ReconcileError', message)], now());
    if (record) writes.push({ op: 'putRecord', record });
    // The failure is reported already; a commit that fails too leaves the store as it was.
    await engine.store.commit(writes).catch(() => undefined);
    return { key: c.key, change: c, state: 'failed', ready: false, reason: failure.reason, message, record: record ?? c.record, raised: [failure], terminal: isTerminal(e) };
  }
}

async function act(engine: Engine, c: Change, run: ReconcileRun, at: string, active: Map<string, Notification>): Promise<Reconciled> {
  const ctx = { ...providerContext(engine), secrets: run.secrets };
  const audit = (action: string, detail: Record<string, unknown> = {}): Write => ({
    op: 'audit',
    entry: { at, ...c.id, action, source: run.source, revision: run.revision, actor: run.actor, detail: { ...run.auditDetail, ...detail } } satisfies AuditEntry,
  });
  if (c.suspended) {
    const record = c.settings ? { ...c.record!, spec: withPolicies(c.record!.spec, c.desired!.spec), updatedAt: at } : c.record;
    if (c.settings) await engine.store.commit([{ op: 'putRecord', record: record! }, audit('settings')]);
    return { key: c.key, change: c, state: 'skipped', reason: 'Suspended', message: 'spec.suspend is true: left alone', record, raised: [] };
  }

  const provider = engine.providers.get(c.id.kind);
  if (c.action === 'delete' || c.action === 'orphan') {
    const writes: Write[] = [{ op: 'deleteInventory', id: c.id }, audit(c.action)];
    let record: StoredRecord | undefined;
    if (c.record) {
      writes.push(...((await provider.delete?.(ctx, c.record, c.action === 'delete' ? 'Delete' : 'Orphan')) ?? []));
      if (c.action === 'delete') writes.push({ op: 'deleteRecord', id: c.id }, { op: 'deleteBlobs', id: c.id });
      else {
        record = { ...withConditions(c.record, [synced(false, 'Orphaned', 'removed from the configuration; kept by deletionPolicy Orphan and no longer managed')], at), managed: false };
        writes.push({ op: 'putRecord', record });
      }
    }
    for (const reason of active.keys()) writes.push({ op: 'resolveNotification', id: c.id, reason });
    await engine.store.commit(writes);
    return { key: c.key, change: c, state: 'done', record, raised: [] };
  }

  const d = c.desired!;
  const working = run.onProgress ? { ...ctx, progress: run.onProgress } : ctx;
  if (c.observeOnly && !c.record) return { key: c.key, change: c, state: 'unchanged', ready: false, reason: 'NotFound', message: c.impact[0], raised: [] };
  let outcome: Outcome | undefined;
  let action = c.action;
  const writes: Write[] = [];
  if (c.observeOnly || action === 'no-op') {
    // Observed again now that what it depends on has been applied: that may give it work (a CA
    // replaced in this apply re-issues what it signed).
    const seen = await observeResource(provider, ctx, d, c.record, c.diffs);
    if (!c.observeOnly && !run.statusOnly && seen.pending?.length) action = 'update';
    else outcome = seen.outcome;
  }
  if (action === 'create') {
    outcome = await makeResource(provider, working, d, undefined);
  } else if (action === 'replace') {
    writes.push(...((await provider.delete?.(ctx, c.record!, 'Delete')) ?? []), { op: 'deleteBlobs', id: c.id });
    outcome = await makeResource(provider, working, d, undefined);
  } else if (action === 'update') {
    outcome = await makeResource(provider, working, d, c.record!);
  }
  if (!outcome) throw new Error(`no outcome for ${show(c.id)}`);

  // A missing secret is the same story for every kind: recorded, not Ready, and said where to put it.
  const missing = Object.entries(d.secrets).filter(([, s]) => s.value === undefined);
  const notices: Notice[] = [...(outcome.notices ?? [])];
  if (missing.length) {
    const message = missing.map(([path, s]) => `secret ${s.ref.name}/${s.ref.key} (${path}) not found: ${run.secrets.where(d.id.tenant, s.ref)}`).join('; ');
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
      ? synced(true, 'ReconcileSuccess', `${action === 'update' && c.drift ? 'drift corrected' : `${action}d`} from revision ${run.revision}`)
      : (keptSynced(base) ?? synced(true, 'ReconcileSuccess', 'up to date'));
  const conditions = mergeConditions(
    base?.status.conditions,
    [syncedCondition, { type: 'Ready', status: outcome.ready.status ? 'True' : 'False', reason: outcome.ready.reason, message: outcome.ready.message }],
    generation,
    at,
  );
  const status = { ...(outcome.status ?? {}), conditions };

  let record = base;
  if (changed || c.adopt || c.refresh) {
    record = recordOf(d, { generation, status, updatedAt: at });
    writes.push({ op: 'putRecord', record, appliedSpec: null });
    for (const [path, f] of Object.entries(d.files)) writes.push(sealed(engine, c, `file:${path}`, f.bytes));
    for (const b of outcome.blobs ?? []) writes.push(sealed(engine, c, b.purpose, b.value));
    writes.push(...(outcome.writes ?? []));
    writes.push({ op: 'putInventory', entry: { ...c.id, source: run.source, revision: run.revision, appliedAt: at } });
    const what = c.adopt && action === 'no-op' ? 'adopt' : c.drift && action === 'update' ? 'correct-drift' : action;
    if (changed || c.adopt) writes.push(audit(what, { fields: c.diffs.map((x) => x.path), ...(c.impact.length ? { work: c.impact } : {}) }));
  } else if (base && (c.settings || statusChanged(base.status, status))) {
    record = { ...base, spec: withPolicies(base.spec, d.spec), status };
    writes.push({ op: 'putRecord', record });
    if (c.settings) writes.push(audit('settings'));
  }

  // Raised when it starts (or says something new), not on every look: a condition that
  // persists costs no write, and its count says how often it began.
  const raised = notices.filter((n) => {
    const open = active.get(n.reason);
    return !open || open.message !== n.message || open.severity !== n.severity;
  });
  for (const n of raised) writes.push(notify(c, n, at));
  for (const reason of active.keys()) if (!notices.some((n) => n.reason === reason)) writes.push({ op: 'resolveNotification', id: c.id, reason });

  await engine.store.commit(writes);
  return {
    key: c.key,
    change: c,
    state: changed || c.adopt || c.settings ? 'done' : 'unchanged',
    action,
    ready: outcome.ready.status,
    reason: outcome.ready.reason,
    message: outcome.ready.message,
    record,
    raised,
    requeueAfterMs: outcome.requeueAfterMs ?? (outcome.ready.status ? undefined : WAITING_REQUEUE_MS),
  };
}

/** The active notifications of every resource, by resource key and reason: listed once for a whole apply. */
export async function activeNotifications(engine: Engine): Promise<Map<string, Map<string, Notification>>> {
  const byResource = new Map<string, Map<string, Notification>>();
  for (const n of await engine.store.listNotifications({ active: true })) {
    const key = idKey(n);
    if (!byResource.has(key)) byResource.set(key, new Map());
    byResource.get(key)!.set(n.reason, n);
  }
  return byResource;
}

/** One resource's: the controller reconciles one at a time, and every active notification of the store read each time would grow with the tenant. */
async function activeNotificationsOf(engine: Engine, c: Change): Promise<Map<string, Notification>> {
  return new Map((await engine.store.listNotifications({ active: true, id: c.id })).map((n) => [n.reason, n]));
}

/** Compared in place first: the canonical text of every status (certificates and all) costs a no-op apply much. */
function statusChanged(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return !canonicallyEqual(a, b) && canonical(a) !== canonical(b);
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
