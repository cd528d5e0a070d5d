// One apply at a time on each tenant of a store: `mdmops apply`, `mdmops run` and the controller
// take the same lock per tenant (apply/<tenant>) before they plan, and hold it until they have
// written. A holder renews its locks while it works; when a renewal fails (it stalled past the
// lock's time and another took it over), its signal aborts, so that it starts no further write.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Store } from './types.js';
import { messageOf } from '../util/message-of.js';

export const LOCK_TTL_MS = 30_000;

export class ApplyLockHeld extends Error {}

export interface ApplyLock {
  /** Aborted when a lock was lost: stop writing. */
  signal: AbortSignal;
  release(): Promise<void>;
}

/**
 * host:pid:random. The random part tells apart processes that share a host name and a pid (pid 1
 * in containers); host and pid let a holder whose process is gone be recognised on this host.
 */
export const lockHolder = (who = `${hostname()}:${process.pid}`) => `${who}:${randomBytes(4).toString('hex')}`;

/** A holder on this host whose process is gone (killed) no longer counts. */
function gone(holder: string): boolean {
  const [host, pid] = holder.split(':');
  if (host !== hostname() || !/^\d+$/.test(pid ?? '')) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const lockName = (tenant: string) => `apply/${tenant}`;

/** Takes the locks of these tenants, or none of them: ApplyLockHeld names who holds one. */
export async function takeApplyLocks(store: Store, tenants: Iterable<string>, holder = lockHolder(), ttlMs = LOCK_TTL_MS): Promise<ApplyLock> {
  // Always in the same order, so that two holders wanting the same tenants cannot each hold half.
  const names = [...new Set([...tenants].map(lockName))].sort();
  const taken: string[] = [];
  const unlockAll = async () => {
    for (const name of taken) await store.unlock(name, holder);
  };
  for (const name of names) {
    const other = await store.lock(name, holder, ttlMs, gone);
    if (other) {
      await unlockAll();
      throw new ApplyLockHeld(`another apply (${other}) is running on tenant ${name.slice('apply/'.length)} of the tenant store at ${store.location}`);
    }
    taken.push(name);
  }
  const lost = new AbortController();
  const renew = setInterval(() => {
    void (async () => {
      for (const name of taken) {
        const kept = await store.renew(name, holder, ttlMs).catch((e: unknown) => messageOf(e));
        if (kept !== true) {
          clearInterval(renew);
          const why = kept === false ? 'another apply took it over while this one stalled' : `it could not be renewed: ${kept}`;
          lost.abort(new ApplyLockHeld(`lost the apply lock of tenant ${name.slice('apply/'.length)} (${why}): nothing more is written`));
          return;
        }
      }
    })();
  }, ttlMs / 3);
  renew.unref();
  return {
    signal: lost.signal,
    async release() {
      clearInterval(renew);
      await unlockAll();
    },
  };
}

/**
 * One process's hold on each tenant's apply lock, shared by its workers (the controller's: they are
 * one process, and the engine keeps them apart): taken by the first and given back by the last. A
 * hold that begins while the last one's release is under way waits for it: taken before, the lock
 * (the same holder's) would be deleted by that release while this one works.
 */
export class SharedTenantLocks {
  private readonly held = new Map<string, { lock: Promise<ApplyLock>; users: number }>();
  private readonly releasing = new Map<string, Promise<void>>();
  private readonly holder = lockHolder();

  constructor(private readonly store: Store) {}

  async hold(tenant: string): Promise<void> {
    let entry = this.held.get(tenant);
    if (!entry) {
      const released = this.releasing.get(tenant) ?? Promise.resolve();
      entry = { lock: released.then(() => takeApplyLocks(this.store, [tenant], this.holder)), users: 0 };
      this.held.set(tenant, entry);
    }
    entry.users++;
    try {
      await entry.lock;
    } catch (e) {
      if (--entry.users === 0 && this.held.get(tenant) === entry) this.held.delete(tenant);
      throw e;
    }
  }

  async letGo(tenant: string): Promise<void> {
    const entry = this.held.get(tenant);
    if (!entry || --entry.users > 0) return;
    this.held.delete(tenant);
    const release = entry.lock.then((lock) => lock.release());
    const settled = release.catch(() => undefined);
    this.releasing.set(tenant, settled);
    try {
      await release;
    } finally {
      if (this.releasing.get(tenant) === settled) this.releasing.delete(tenant);
    }
  }
}
