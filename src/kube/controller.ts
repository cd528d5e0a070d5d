// The controller: informers on every mdmops kind feed a work queue keyed namespace/Kind/name;
// workers reconcile keys (only while this process leads, when leader election is on); a periodic
// resync queues every key again to catch drift; stop() finishes the reconciles under way.
import { KINDS, kindNamed, tenantRules, type Resource, type RuleViolation } from '../api/index.js';
import type { Engine } from '../engine/context.js';
import { secretRefs } from '../config/desired.js';
import type { SecretResolver } from '../config/secrets.js';
import type { Logger } from '../observe/log.js';
import type { Registry } from '../observe/metrics.js';
import type { KubeClient, KubeObject } from './client.js';
import { EventRecorder } from './events.js';
import { Informer } from './informer.js';
import { LeaderElector, type LeaseOptions } from './lease.js';
import { collectionPath } from './paths.js';
import { FINALIZER, keyOf, parseKey, Reconciler } from './reconciler.js';
import { parseCustomResource } from './resource.js';
import { WorkQueue } from './workqueue.js';
import { isTerminal } from '../util/errors.js';
import { messageOf } from '../util/message-of.js';

export interface ControllerOptions {
  /** Empty: every namespace. */
  namespaces: string[];
  resyncMs: number;
  concurrency: number;
  watchTimeoutSeconds: number;
  identity: string;
  /** Leader election; without it this process always leads. */
  lease?: LeaseOptions;
  /** Called when the lease is lost: the process should exit (and be restarted). */
  onLostLease?(): void;
  /** This replica leads from now on (at once without leader election): the work only the leader does starts. */
  onStartedLeading?(): void;
}

function controllerMetrics(metrics: Registry) {
  return {
    reconciles: metrics.counter('mdmops_controller_reconciles_total', 'Reconciles, by kind and result (success, requeue, terminal, error).'),
    errors: metrics.counter('mdmops_controller_reconcile_errors_total', 'Reconciles that failed with an error, by kind.'),
    duration: metrics.histogram('mdmops_controller_reconcile_duration_seconds', 'Time to reconcile one resource, by kind.'),
    depth: metrics.gauge('mdmops_controller_queue_depth', 'Keys waiting for a worker.'),
    writes: metrics.counter('mdmops_controller_api_writes_total', 'Requests that change something in the API (status, finalizers, Events, Leases), by resource and verb.'),
    restarts: metrics.counter('mdmops_controller_watch_restarts_total', 'Watches restarted, by reason (gone, silent, error).'),
    leader: metrics.gauge('mdmops_controller_leader', '1 while this process is the leader.'),
    synced: metrics.gauge('mdmops_controller_informers_synced', '1 once every informer has listed its collection.'),
  };
}

/** The resource a write names, for the writes metric: connectors/status, connectors (finalizers), events, leases. */
function resourceOfPath(method: string, path: string): string {
  const parts = path.split('?')[0]!.split('/');
  if (parts.at(-1) === 'status') return `${parts.at(-3)}/status`;
  return (method === 'POST' ? parts.at(-1) : parts.at(-2)) ?? path;
}

/**
 * What a reconcile reads besides status: the spec (generation), deletion, labels and annotations;
 * and our finalizer taken off (an update that does not show it, when the one before did not either,
 * is from before the reconcile that is adding it).
 */
function specOrLifecycleChanged(a: KubeObject, b: KubeObject): boolean {
  const m = (o: KubeObject) => JSON.stringify([o.metadata.generation, o.metadata.deletionTimestamp ?? null, o.metadata.labels ?? {}, o.metadata.annotations ?? {}]);
  const finalized = (o: KubeObject) => (o.metadata.finalizers ?? []).includes(FINALIZER);
  return m(a) !== m(b) || (finalized(a) && !finalized(b));
}

export class Controller {
  private readonly informers = new Map<string, Informer[]>();
  private readonly refsOf = new Map<string, string[]>();
  /** Keys refused as invalid (a reference missing, a tenant rule broken), and per namespace a count of resources added or removed. */
  private readonly invalid = new Set<string>();
  private readonly epochs = new Map<string, number>();
  private readonly dependentsOf = new Map<string, Set<string>>();
  private secretInformers: Informer[] = [];
  private readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly m: ReturnType<typeof controllerMetrics>;
  private readonly elector?: LeaderElector;
  private workers: Promise<void>[] = [];
  private resyncTimer?: NodeJS.Timeout;
  private leading = false;
  private stopping = false;

  constructor(
    private readonly client: KubeClient,
    engine: Engine,
    secrets: SecretResolver,
    private readonly log: Logger,
    metrics: Registry,
    private readonly opts: ControllerOptions,
  ) {
    this.m = controllerMetrics(metrics);
    client.onSlow = (method, path, ms, what) => log.warn({ method, path, ms }, `slow API request: ${what}`);
    client.onWrite = (method, path) => this.m.writes.inc({ resource: resourceOfPath(method, path), verb: method.toLowerCase() });
    this.queue = new WorkQueue({ onDepth: (d) => this.m.depth.set(d) });
    const events = new EventRecorder(client, opts.identity, log);
    this.reconciler = new Reconciler({
      engine,
      secrets,
      client,
      log,
      actor: `controller:${opts.identity}`,
      lookup: (kind, namespace, name) => this.lookup(kind, namespace, name),
      broken: (namespace, key) => this.broken(namespace, key),
      event: (obj, type, reason, message) => events.record(obj, type, reason, message),
    });
    if (opts.lease) {
      this.elector = new LeaderElector(client, opts.lease, log, {
        started: () => this.startLeading(),
        stopped: () => {
          this.m.leader.set(0);
          this.leading = false;
          opts.onLostLease?.();
        },
      });
    }
  }

  /** The namespaces watched, or undefined for all of them. */
  private scopes(): (string | undefined)[] {
    return this.opts.namespaces.length ? this.opts.namespaces : [undefined];
  }

  private informer(path: string, keep: (o: KubeObject) => KubeObject, onEvent: (type: string, obj: KubeObject, old?: KubeObject) => void): Informer {
    const i = new Informer(this.client, {
      path,
      watchTimeoutSeconds: this.opts.watchTimeoutSeconds,
      silenceMs: (this.opts.watchTimeoutSeconds + 30) * 1000,
      log: this.log,
      keep,
      onEvent,
      onRestart: (reason) => this.m.restarts.inc({ reason }),
    });
    i.start();
    return i;
  }

  start(): void {
    for (const def of KINDS) {
      this.informers.set(
        def.kind,
        // managedFields are often the larger part of an object, and nothing here reads them.
        this.scopes().map((ns) => this.informer(collectionPath(def, ns), (o) => ({ ...o, metadata: { ...o.metadata, managedFields: undefined } }), (type, obj, old) => this.onEvent(def.kind, type, obj, old))),
      );
    }
    // Secrets, for their names and versions only: one created or changed wakes the resources naming
    // it. Only in the namespaces listed: watching every Secret of the cluster is more than a tenant's
    // controller may do; watching all namespaces, a Secret change is seen at the next resync.
    this.secretInformers = this.opts.namespaces.map((ns) =>
      this.informer(
        `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets`,
        (o) => ({ metadata: { name: o.metadata.name, namespace: o.metadata.namespace, resourceVersion: o.metadata.resourceVersion } }),
        (_type, o) => this.enqueueDependents(o.metadata.namespace ?? 'default', 'Secret', o.metadata.name),
      ),
    );
    if (this.elector) this.elector.start();
    else this.startLeading();
  }

  /** Why not ready: informers not synced yet (a standby is ready once synced). */
  private informersSynced(): boolean {
    const all = [...this.informers.values()].flat().concat(this.secretInformers);
    return all.length > 0 && all.every((i) => i.synced);
  }

  notReady(): string | undefined {
    if (this.stopping) return 'stopping';
    const synced = this.informersSynced();
    this.m.synced.set(synced ? 1 : 0);
    return synced ? undefined : 'informers have not listed every kind yet';
  }

  private lookup(kind: string, namespace: string, name: string): KubeObject | undefined {
    for (const i of this.informers.get(kind) ?? []) {
      const o = i.cache.get(`${namespace}/${name}`);
      if (o) return o;
    }
    return undefined;
  }

  /** Each resource parsed once per generation, and the tenant rules once per state of a namespace. */
  private readonly parsed = new Map<string, { generation?: number; resource?: Resource; created: string }>();
  private readonly rules = new Map<string, { epoch: number; byKey: Map<string, RuleViolation[]> }>();

  private broken(namespace: string, key: string): RuleViolation[] {
    const epoch = this.epochs.get(namespace) ?? 0;
    let cached = this.rules.get(namespace);
    if (!cached || cached.epoch !== epoch) {
      const members = this.tenant(namespace);
      const keys = new Map(members.map((m) => [m.resource, m.key]));
      const byKey = new Map<string, RuleViolation[]>();
      for (const v of tenantRules(members.map((m) => m.resource))) {
        const k = keys.get(v.resource as Resource)!;
        byKey.set(k, [...(byKey.get(k) ?? []), v]);
      }
      cached = { epoch, byKey };
      this.rules.set(namespace, cached);
    }
    return cached.byKey.get(key) ?? [];
  }

  /** The valid resources of a namespace, oldest first: of two that conflict, the newer one is refused. */
  private tenant(namespace: string): { key: string; resource: Resource }[] {
    const out: { key: string; resource: Resource; created: string }[] = [];
    for (const o of this.objects()) {
      if ((o.metadata.namespace ?? 'default') !== namespace || !o.kind || o.metadata.deletionTimestamp) continue;
      const key = keyOf(namespace, o.kind, o.metadata.name);
      const cached = this.parsed.get(key);
      const p = cached && cached.generation === o.metadata.generation ? cached : { generation: o.metadata.generation, resource: parseCustomResource(o, o.kind), created: `${String(o.metadata.creationTimestamp ?? '')} ${o.metadata.name}` };
      this.parsed.set(key, p);
      if (p.resource) out.push({ key, resource: p.resource, created: p.created });
    }
    return out.sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : 0));
  }

  private objects(): KubeObject[] {
    return [...this.informers.values()].flat().flatMap((i) => [...i.cache.values()]);
  }

  private onEvent(kind: string, type: string, obj: KubeObject, old?: KubeObject): void {
    const ns = obj.metadata.namespace ?? 'default';
    const key = keyOf(ns, kind, obj.metadata.name);
    this.index(key, type === 'delete' ? [] : this.referencesOf(kind, obj));
    // Our own status and finalizer writes come back as updates: they need no reconcile.
    if (type === 'update' && old && !specOrLifecycleChanged(old, obj)) return;
    this.queue.add(key);
    const before = this.parsed.get(key);
    if (type === 'delete') this.parsed.delete(key);
    // Only a resource appearing, going or changing its spec changes the tenant rules' verdicts.
    if (type === 'update' && before && before.generation === obj.metadata.generation) return;
    this.epochs.set(ns, (this.epochs.get(ns) ?? 0) + 1);
    for (const k of this.invalid) if (parseKey(k).namespace === ns) this.queue.add(k);
    // A resource appearing or going changes what its dependents can do.
    if (type !== 'update') this.enqueueDependents(ns, kind, obj.metadata.name);
  }

  private referencesOf(kind: string, obj: KubeObject): string[] {
    const ns = obj.metadata.namespace ?? 'default';
    try {
      const refs = (kindNamed(kind)?.references(obj.spec as never) ?? []).map((r) => keyOf(ns, r.kind, r.name));
      return [...refs, ...secretRefs(obj.spec ?? {}).map(([, ref]) => keyOf(ns, 'Secret', ref.name))];
    } catch {
      return []; // a spec its kind cannot read: its own reconcile says so
    }
  }

  /** Who references whom, kept from the informers' events: dependents are found without a scan. */
  private index(key: string, targets: string[]): void {
    for (const t of this.refsOf.get(key) ?? []) this.dependentsOf.get(t)?.delete(key);
    if (targets.length) this.refsOf.set(key, targets);
    else this.refsOf.delete(key);
    for (const t of targets) {
      if (!this.dependentsOf.has(t)) this.dependentsOf.set(t, new Set());
      this.dependentsOf.get(t)!.add(key);
    }
  }

  private enqueueDependents(namespace: string, kind: string, name: string): void {
    for (const k of this.dependentsOf.get(keyOf(namespace, kind, name)) ?? []) this.queue.add(k);
  }

  /** Something outside a resource changed (a connector's agent came or went): it is reconciled again. */
  wake(namespace: string, kind: string, name: string): void {
    if (this.leading) this.queue.add(keyOf(namespace, kind, name));
  }

  private startLeading(): void {
    if (this.stopping || this.leading) return;
    this.leading = true;
    this.m.leader.set(1);
    this.opts.onStartedLeading?.();
    this.queueAll();
    for (let i = 0; i < this.opts.concurrency; i++) this.workers.push(this.work());
    this.resyncTimer = setInterval(() => {
      this.log.debug('resync: every resource queued again');
      this.queueAll();
    }, this.opts.resyncMs);
    this.resyncTimer.unref();
  }

  private queueAll(): void {
    for (const o of this.objects()) if (o.kind) this.queue.add(keyOf(o.metadata.namespace ?? 'default', o.kind, o.metadata.name));
  }

  private async work(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const { kind, namespace, name } = parseKey(key);
      const started = process.hrtime.bigint();
      const epoch = this.epochs.get(namespace);
      try {
        const outcome = await this.reconciler.reconcile(key);
        if (outcome.invalid) {
          this.invalid.add(key);
          // The namespace changed while it was checked: check it again with what is there now.
          if (this.epochs.get(namespace) !== epoch) this.queue.add(key);
        } else this.invalid.delete(key);
        if (outcome.retry) this.queue.addRateLimited(key);
        else {
          this.queue.forget(key);
          // Waiting on something outside is not a failure: looked at again when the reconcile said.
          if (outcome.requeueAfterMs !== undefined) this.queue.addAfter(key, outcome.requeueAfterMs);
        }
        this.m.reconciles.inc({ kind, result: outcome.terminal ? 'terminal' : outcome.retry || outcome.requeueAfterMs !== undefined ? 'requeue' : 'success' });
        if (outcome.changed) this.enqueueDependents(namespace, kind, name);
      } catch (e) {
        this.m.errors.inc({ kind });
        if (isTerminal(e)) {
          // Trying again cannot help: it waits for the resource to change (a watch event queues it).
          this.m.reconciles.inc({ kind, result: 'terminal' });
          this.log.warn({ resource: key, reason: e.reason, err: e.message }, 'reconcile failed for good: not retried until the resource changes');
          this.queue.forget(key);
        } else {
          this.m.reconciles.inc({ kind, result: 'error' });
          this.log.warn({ resource: key, err: messageOf(e), failures: this.queue.failures(key) + 1 }, 'reconcile failed: retrying with backoff');
          this.queue.addRateLimited(key);
        }
      } finally {
        this.m.duration.observe(Number(process.hrtime.bigint() - started) / 1e9, { kind });
        this.queue.done(key);
      }
    }
  }

  /** Graceful: no new reconcile starts, those under way finish, the lease is handed back. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    await this.queue.drained();
    await Promise.all(this.workers);
    await Promise.all([...this.informers.values()].flat().concat(this.secretInformers).map((i) => i.stop()));
    await this.elector?.release();
    this.m.leader.set(0);
  }
}
