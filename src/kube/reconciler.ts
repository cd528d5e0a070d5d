// The reconcile of one custom resource, level-based: whatever happened before, make the tenant
// (the resource's namespace) hold what the resource says now, then report it in the resource's
// status. Each custom resource is its own source in the engine's inventory, so a plan for it
// touches only it, and removing it (finalizer) is a prune of that source: deleted or orphaned
// as its deletionPolicy says. Status is written only when it changed, so a resync of resources
// that are up to date makes no API write at all.
import { kindNamed, type KindDefinition, type RuleViolation } from '../api/index.js';
import { applyPlan } from '../engine/apply.js';
import { canonical } from '../util/canonical.js';
import type { Engine } from '../engine/context.js';
import { desiredOf } from '../config/desired.js';
import { makePlan, planResource } from '../engine/plan.js';
import { reconcileResource } from '../engine/reconcile.js';
import type { SecretResolver } from '../config/secrets.js';
import { mergeConditions, type Condition, type ConditionInput } from '../engine/status.js';
import type { Logger } from '../observe/log.js';
import { ApplyLockHeld, SharedTenantLocks } from '../store/apply-lock.js';
import { JSON_PATCH, isNotFound, type KubeClient, type KubeObject } from './client.js';
import { resourcePath } from './paths.js';
import { checkCustomResource } from './resource.js';

export const FINALIZER = 'mdmops.io/finalizer';

export interface ReconcilerDeps {
  engine: Engine;
  secrets: SecretResolver;
  client: KubeClient;
  log: Logger;
  /** Who applied, in the audit log. */
  actor: string;
  /** The cached object, or undefined when it is gone. */
  lookup(kind: string, namespace: string, name: string): KubeObject | undefined;
  /** The tenant rules a resource (by key) breaks with the others of its namespace. */
  broken(namespace: string, key: string): Omit<RuleViolation, 'resource'>[];
  /** Reports an Event about the object (see events.ts). */
  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void>;
}

/** What the worker does with the key next. */
export interface Outcome {
  /** It failed: again, with backoff. */
  retry: boolean;
  /** It failed for good (a TerminalError): not again until the resource changes. */
  terminal?: boolean;
  /** It waits on something outside, or has work due: again after this long. */
  requeueAfterMs?: number;
  /** The tenant changed (created, updated, deleted): dependents may have work. */
  changed: boolean;
  /** Refused as invalid: the namespace changing may change that. */
  invalid?: boolean;
}

/** Keys are namespace/Kind/name. */
export const keyOf = (namespace: string, kind: string, name: string) => `${namespace}/${kind}/${name}`;

export function parseKey(key: string): { namespace: string; kind: string; name: string } {
  const [namespace, kind, name] = key.split('/') as [string, string, string];
  return { namespace, kind, name };
}

/**
 * The engine's source (inventory owner) for one custom resource. The namespace (tenant) is part of
 * it: same-named resources of two tenants must never share a source, or pruning one prunes both.
 */
export const sourceOf = (namespace: string, kind: string, name: string) => `kubernetes:${namespace}/${kind}/${name}`;

export class Reconciler {
  /** The status last sent per key, and what the server kept of it (it prunes fields its schema lacks). */
  private readonly written = new Map<string, { sent: string; kept: string }>();
  private readonly locks: SharedTenantLocks;

  constructor(private readonly d: ReconcilerDeps) {
    this.locks = new SharedTenantLocks(d.engine.store);
  }

  /**
   * Under the tenant's apply lock, which `mdmops apply` and `mdmops run` on the same store take too.
   * While one of them holds it, the resource is tried again later.
   */
  async reconcile(key: string): Promise<Outcome> {
    const { namespace } = parseKey(key);
    try {
      await this.locks.hold(namespace);
    } catch (e) {
      if (!(e instanceof ApplyLockHeld)) throw e;
      this.d.log.info({ resource: key }, `${e.message}: reconciled once it is done`);
      return { retry: true, changed: false };
    }
    try {
      return await this.reconcileLocked(key);
    } finally {
      await this.locks.letGo(namespace);
    }
  }

  private async reconcileLocked(key: string): Promise<Outcome> {
    const { namespace, kind, name } = parseKey(key);
    const def = kindNamed(kind);
    if (!def) return { retry: false, changed: false };
    const obj = this.d.lookup(kind, namespace, name);
    if (!obj) {
      // Gone without our finalizer (removed by hand): the record goes as its deletionPolicy says.
      this.written.delete(key);
      await this.release(namespace, kind, name);
      return { retry: false, changed: false };
    }
    if (obj.metadata.deletionTimestamp) return this.finalize(key, obj, def);
    // The finalizer goes on before the tenant holds anything a deletion would have to remove. Not
    // sent beside the status write: two writes to one object at once make the API server retry one
    // (a conflict in etcd), which costs it more than the round trip saved.
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) await this.addFinalizer(obj, def);
    return await this.reconcileObject(key, obj, def);
  }

  private async reconcileObject(key: string, obj: KubeObject, def: KindDefinition): Promise<Outcome> {
    const { namespace = 'default', name } = obj.metadata;
    const kind = def.kind;
    const checked = checkCustomResource(obj, def, (r) => !!this.d.lookup(r.kind, namespace, r.name), () => this.d.broken(namespace, key));
    if ('reason' in checked) {
      // Invalid: nothing is applied until the spec changes; a missing reference is waited for
      // (its creation enqueues this resource again).
      await this.writeStatus(key, obj, def, [{ type: 'Ready', status: 'False', reason: checked.reason, message: checked.message }], {}, 'Warning');
      return { retry: false, changed: false, invalid: true };
    }

    const generation = obj.metadata.generation ?? 1;
    const desired = await desiredOf(checked.valid, checked.content, this.d.secrets, this.d.engine.key);
    const source = sourceOf(namespace, kind, name);
    const revision = `generation ${generation}`;
    const plan = await planResource(this.d.engine, desired, { source, revision });
    if (plan.problems.length) {
      const message = plan.problems.map((p) => p.message + (p.hint ? ` (${p.hint})` : '')).join('; ');
      await this.writeStatus(key, obj, def, [{ type: 'Ready', status: 'False', reason: 'PlanRefused', message }], {}, 'Warning');
      return { retry: true, changed: false };
    }
    const r = await reconcileResource(this.d.engine, plan.changes[0]!, { source, revision, actor: this.d.actor, secrets: this.d.secrets });
    const { conditions: recorded = [], observedGeneration: _g, ...fields } = r.record?.status ?? {};
    const kept = (recorded as Condition[]).map(({ type, status, reason, message }) => ({ type, status, reason, message }));
    let conditions: ConditionInput[];
    if (r.state === 'skipped') {
      conditions = [...kept.filter((c) => c.type !== 'Synced'), { type: 'Synced', status: 'False', reason: 'Suspended', message: r.message ?? 'spec.suspend is true' }];
    } else if (r.state === 'failed' || !r.record) {
      conditions = [{ type: 'Ready', status: 'False', reason: r.reason ?? 'ReconcileFailed', message: r.message ?? 'not applied' }];
    } else conditions = kept;
    await this.writeStatus(key, obj, def, conditions, r.state === 'failed' ? {} : fields);
    for (const n of r.raised) await this.d.event(obj, n.severity === 'Info' ? 'Normal' : 'Warning', n.reason, n.message);
    return { retry: r.state === 'failed' && !r.terminal, terminal: r.terminal, requeueAfterMs: r.requeueAfterMs, changed: r.state === 'done' };
  }

  /** Deletion: the record goes (or stays, unmanaged) as deletionPolicy says; then the finalizer. */
  private async finalize(key: string, obj: KubeObject, def: KindDefinition): Promise<Outcome> {
    if (!(obj.metadata.finalizers ?? []).includes(FINALIZER)) return { retry: false, changed: false };
    const { namespace = 'default', name } = obj.metadata;
    const problem = await this.release(namespace, def.kind, name);
    if (problem) {
      await this.writeStatus(key, obj, def, [{ type: 'Ready', status: 'False', reason: 'DeletionBlocked', message: problem }], obj.status ?? {}, 'Warning');
      return { retry: true, changed: false };
    }
    const rest = (obj.metadata.finalizers ?? []).filter((f) => f !== FINALIZER);
    try {
      await this.d.client.request('PATCH', resourcePath(def, namespace, name), [
        { op: 'test', path: '/metadata/finalizers', value: obj.metadata.finalizers },
        { op: 'replace', path: '/metadata/finalizers', value: rest },
      ], JSON_PATCH);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    this.written.delete(key);
    this.d.log.info({ resource: key, deletionPolicy: obj.spec?.deletionPolicy }, 'custom resource deleted: released from the tenant');
    return { retry: false, changed: true };
  }

  /** Prunes the resource's own source. Returns why it cannot be, if it cannot. */
  private async release(namespace: string, kind: string, name: string): Promise<string | undefined> {
    const plan = await makePlan(this.d.engine, [], { source: sourceOf(namespace, kind, name), revision: 'deleted', allowMassDelete: true });
    if (plan.problems.length) return plan.problems.map((p) => p.message + (p.hint ? ` (${p.hint})` : '')).join('; ');
    if (!plan.changes.length) return undefined;
    const result = await applyPlan(this.d.engine, plan, { concurrency: 1, actor: this.d.actor, secrets: this.d.secrets });
    const failed = result.results.find((r) => r.state === 'failed' || r.state === 'blocked');
    if (failed) return failed.message ?? 'the deletion failed';
    this.d.log.info({ tenant: namespace, kind, name, action: plan.changes.map((c) => c.action).join(',') }, `${kind}/${name}: ${plan.changes[0]!.action === 'orphan' ? 'orphaned (deletionPolicy Orphan)' : 'deleted from the tenant'}`);
    return undefined;
  }

  private async addFinalizer(obj: KubeObject, def: KindDefinition): Promise<void> {
    const path = resourcePath(def, obj.metadata.namespace ?? 'default', obj.metadata.name);
    const ops = obj.metadata.finalizers
      ? [{ op: 'add', path: '/metadata/finalizers/-', value: FINALIZER }]
      : [{ op: 'add', path: '/metadata/finalizers', value: [FINALIZER] }];
    const updated = await this.d.client.request<KubeObject>('PATCH', path, ops, JSON_PATCH);
    obj.metadata.finalizers = updated.metadata.finalizers;
    obj.metadata.resourceVersion = updated.metadata.resourceVersion;
  }

  /**
   * Writes status when it differs from what the object shows (and from what was last written).
   * Conditions keep their transition time unless their status flips. Returns whether it wrote.
   */
  private async writeStatus(key: string, obj: KubeObject, def: KindDefinition, next: ConditionInput[], fields: Record<string, unknown>, eventType?: 'Warning'): Promise<boolean> {
    const generation = obj.metadata.generation ?? 1;
    const previous = obj.status ?? {};
    const conditions = mergeConditions(previous.conditions, next, generation, new Date().toISOString());
    const status = { ...fields, conditions, observedGeneration: generation };
    const text = canonical(status);
    const shown = canonical(previous);
    const last = this.written.get(key);
    if (text === shown || (last?.sent === text && last.kept === shown)) return false;
    const path = `${resourcePath(def, obj.metadata.namespace ?? 'default', obj.metadata.name)}/status`;
    let updated: KubeObject;
    try {
      updated = await this.d.client.request<KubeObject>('PATCH', path, [{ op: 'add', path: '/status', value: status }], JSON_PATCH);
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
    this.written.set(key, { sent: text, kept: canonical(updated.status ?? {}) });
    const ready = next.find((c) => c.type === 'Ready');
    const before = (previous.conditions as Condition[] | undefined)?.find((c) => c.type === 'Ready');
    if (eventType && ready && (before?.reason !== ready.reason || before?.message !== ready.message)) await this.d.event(obj, eventType, ready.reason, ready.message);
    return true;
  }
}
