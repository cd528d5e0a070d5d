// Apply: carry out a plan, one reconcile per resource (engine/reconcile.ts). Dependencies first,
// independent resources in parallel (bounded); a failed resource blocks only its dependents. A stop
// signal ends an apply early: resources not yet started are left untouched, those under way finish.
import type { SecretResolver } from '../config/secrets.js';
import { limiter } from '../util/limit.js';
import { show, type Engine } from './context.js';
import type { Change, Plan } from './plan.js';
import { activeNotifications, reconcileResource, type ReconcileRun, type ResourceResult } from './reconcile.js';

export type { ResourceResult, ResultState } from './reconcile.js';

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
  /** A result to report instead of reconciling: a terminal failure whose input has not changed since. */
  held?: (change: Change) => ResourceResult | undefined;
}

export interface ApplyResult {
  results: ResourceResult[];
  writes: number;
}

export async function applyPlan(engine: Engine, plan: Plan, options: ApplyOptions): Promise<ApplyResult> {
  if (plan.problems.length) throw new Error('a plan with problems cannot be applied');
  const writesBefore = engine.store.writes;
  const active = await activeNotifications(engine);
  const limit = limiter(options.concurrency ?? 8);
  const run: ReconcileRun = { source: plan.source, revision: plan.revision, actor: options.actor, secrets: options.secrets, auditDetail: options.auditDetail, now: options.now };
  const total = plan.changes.length;
  const results: ResourceResult[] = [];
  const finish = (r: ResourceResult) => {
    results.push(r);
    options.onResult?.(r, results.length, total);
    return r;
  };

  const startOrCancel = (c: Change): Promise<ResourceResult> => {
    if (options.signal?.aborted) return Promise.resolve({ key: c.key, change: c, state: 'cancelled', reason: 'Interrupted', message: 'not started: the apply was stopped' });
    const held = options.held?.(c);
    if (held) return Promise.resolve({ ...held, key: c.key, change: c, held: true });
    return reconcileResource(engine, c, {
      ...run,
      notifications: active.get(c.key) ?? new Map(),
      ...(options.onProgress ? { onProgress: (done: number, all: number, unit: string) => options.onProgress!(c, done, all, unit) } : {}),
    });
  };

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
        return finish(await limit(() => startOrCancel(c)));
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
        return finish(await limit(() => startOrCancel(c)));
      })();
      removed.set(c.key, p);
    }
    return p;
  };
  await Promise.all(deletes.map(remove));

  return { results, writes: engine.store.writes - writesBefore };
}
