// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the
// Lease every retry period; another candidate takes it once it has seen the same Lease unchanged
// for a whole lease duration (judged by its own clock, so clock skew between nodes does not
// matter). Writes carry the resourceVersion read, so two candidates never both win. A leader that
// cannot renew within the renew deadline stops leading.
import type { Logger } from '../observe/log.js';
import { isConflict, isNotFound, type KubeClient, type KubeObject } from './client.js';
import { messageOf } from '../util/message-of.js';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

type Lease = KubeObject & { spec?: LeaseSpec };

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (d = new Date()) => d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');

export class LeaderElector {
  leading = false;
  private stopped = false;
  private observed?: { version: string; at: number };
  private lastRenew = 0;
  private wake?: () => void;
  private loopDone?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaseOptions,
    private readonly log: Logger,
    private readonly on: { started(): void; stopped(): void },
  ) {}

  private get path() {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
  }

  start(): void {
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (e) {
        this.log.warn({ lease: this.opts.name, err: messageOf(e) }, 'lease: cannot read or write the Lease');
      }
      if (this.stopped) break;
      if (ok) {
        this.lastRenew = Date.now();
        if (!this.leading) {
          this.leading = true;
          this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity }, 'became the leader');
          this.on.started();
        }
      } else if (this.leading && Date.now() - this.lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.log.error({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'lost the lease: could not renew it within the renew deadline');
        this.on.stopped();
        return;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.opts.retryPeriodMs);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { identity, name, namespace } = this.opts;
    const seconds = Math.max(1, Math.round(this.opts.leaseDurationMs / 1000));
    const now = microTime();
    let lease: Lease;
    try {
      lease = await this.client.request<Lease>('GET', `${this.path}/${name}`);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      try {
        await this.client.request('POST', this.path, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (isConflict(err)) return false; // another candidate created it first
        throw err;
      }
    }
    const spec = lease.spec ?? {};
    const version = lease.metadata.resourceVersion ?? '';
    if (this.observed?.version !== version) this.observed = { version, at: Date.now() };
    const holder = spec.holderIdentity;
    const duration = (spec.leaseDurationSeconds ?? seconds) * 1000;
    if (holder && holder !== identity && Date.now() < this.observed.at + duration) return false;
    const mine = holder === identity;
    try {
      await this.client.request('PUT', `${this.path}/${name}`, {
        ...lease,
        spec: {
          holderIdentity: identity,
          leaseDurationSeconds: seconds,
          acquireTime: mine ? spec.acquireTime ?? now : now,
          renewTime: now,
          leaseTransitions: (spec.leaseTransitions ?? 0) + (mine ? 0 : 1),
        },
      });
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  /** Stops campaigning; a leader hands the Lease back so that another takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loopDone;
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.request<Lease>('GET', `${this.path}/${this.opts.name}`);
      if (lease.spec?.holderIdentity !== this.opts.identity) return;
      await this.client.request('PUT', `${this.path}/${this.opts.name}`, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: microTime() },
      });
      this.log.info({ lease: `${this.opts.namespace}/${this.opts.name}` }, 'released the lease');
    } catch (e) {
      this.log.warn({ err: messageOf(e) }, 'could not release the lease; another candidate takes it when it expires');
    }
  }
}
