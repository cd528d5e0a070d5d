// The controller's work queue, as client-go's: keys, not events (a key added ten times while it
// waits is reconciled once), never one key in two workers at once (a key added while it is being
// reconciled goes back in line once done), delayed adds, and a rate limiter per key on failure
// (exponential backoff) under an overall token bucket. Time comes from a Clock so tests can drive it.

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface RateLimits {
  /** First retry delay of a failing key; doubles on each failure... */
  baseDelayMs: number;
  /** ...up to this. */
  maxDelayMs: number;
  /** Overall retries per second, and the burst above it. */
  qps: number;
  burst: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = { baseDelayMs: 5, maxDelayMs: 5 * 60_000, qps: 10, burst: 100 };

export interface QueueOptions {
  clock?: Clock;
  limits?: Partial<RateLimits>;
  /** Called whenever the number of keys waiting for a worker changes. */
  onDepth?(depth: number): void;
}

export class WorkQueue {
  private readonly clock: Clock;
  private readonly limits: RateLimits;
  private readonly queue: string[] = [];
  /** Keys that need a reconcile: in the queue, or being reconciled and to be queued again. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiting = new Map<string, { at: number; handle: unknown }>();
  private readonly failuresOf = new Map<string, number>();
  private readonly getters: ((key: string | undefined) => void)[] = [];
  private readonly idle: (() => void)[] = [];
  private tokens: number;
  private tokensAt: number;
  private stopped = false;

  constructor(private readonly options: QueueOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.limits = { ...DEFAULT_RATE_LIMITS, ...options.limits };
    this.tokens = this.limits.burst;
    this.tokensAt = this.clock.now();
  }

  /** Keys waiting for a worker (not those delayed or being reconciled). */
  get depth(): number {
    return this.queue.length;
  }

  get shuttingDown(): boolean {
    return this.stopped;
  }

  add(key: string): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const getter = this.getters.shift();
    if (getter) {
      this.take(key);
      getter(key);
      return;
    }
    this.queue.push(key);
    this.depthChanged();
  }

  /** Adds the key after a delay; an earlier pending add of the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.waiting.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.handle);
    const handle = this.clock.setTimeout(() => {
      this.waiting.delete(key);
      this.add(key);
    }, ms);
    this.waiting.set(key, { at, handle });
  }

  /** After a failure: again later, each failure of the key waiting twice as long, all under the bucket. */
  addRateLimited(key: string): void {
    this.addAfter(key, this.whenNext(key));
  }

  /** The delay addRateLimited gives the key now (and counts the failure). */
  whenNext(key: string): number {
    const n = this.failuresOf.get(key) ?? 0;
    this.failuresOf.set(key, n + 1);
    const backoff = Math.min(this.limits.baseDelayMs * 2 ** n, this.limits.maxDelayMs);
    return Math.max(backoff, this.reserveToken());
  }

  /** The key succeeded: its next failure starts from the first delay again. */
  forget(key: string): void {
    this.failuresOf.delete(key);
  }

  failures(key: string): number {
    return this.failuresOf.get(key) ?? 0;
  }

  /** The next key to reconcile; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.stopped) return Promise.resolve(undefined);
    const key = this.queue.shift();
    if (key !== undefined) {
      this.take(key);
      this.depthChanged();
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.getters.push(resolve));
  }

  /** The worker is finished with the key: if it was added meanwhile, it goes back in line. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key) && !this.stopped) {
      this.dirty.delete(key);
      this.add(key);
    }
    if (this.processing.size === 0) for (const f of this.idle.splice(0)) f();
  }

  /** Hands out nothing more: waiting workers get undefined, delayed keys are dropped. */
  shutDown(): void {
    this.stopped = true;
    for (const { handle } of this.waiting.values()) this.clock.clearTimeout(handle);
    this.waiting.clear();
    this.queue.length = 0;
    this.depthChanged();
    for (const g of this.getters.splice(0)) g(undefined);
    if (this.processing.size === 0) for (const f of this.idle.splice(0)) f();
  }

  /** Resolves when no key is being reconciled. */
  drained(): Promise<void> {
    return this.processing.size === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  private take(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
  }

  /** A token from the bucket; when it is empty, the wait until one is due (tokens are reserved ahead). */
  private reserveToken(): number {
    const now = this.clock.now();
    this.tokens = Math.min(this.limits.burst, this.tokens + ((now - this.tokensAt) / 1000) * this.limits.qps);
    this.tokensAt = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.limits.qps) * 1000);
  }

  private depthChanged(): void {
    this.options.onDepth?.(this.queue.length);
  }
}
