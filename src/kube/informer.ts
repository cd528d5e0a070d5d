// An informer: a local cache of one resource collection, kept by list + watch. The watch resumes
// from the last resourceVersion seen; a 410 Gone (the version is too old) or any other failure
// means a relist. A watch that stays silent longer than the server's own timeout plus a margin is
// presumed dead (client-node's watch has been seen to stop without an error) and restarted.
import type { Logger } from '../observe/log.js';
import { KubeError, type KubeClient, type KubeObject, type WatchEvent } from './client.js';
import { messageOf } from '../util/message-of.js';

export type InformerEvent = 'add' | 'update' | 'delete';

export interface InformerOptions {
  /** The collection, e.g. /apis/mdmops.io/v1alpha1/namespaces/contoso/connectors */
  path: string;
  /** The server ends each watch after this long (a new one follows). */
  watchTimeoutSeconds: number;
  /** No event nor bookmark for this long: the watch is dead; restart it. */
  silenceMs: number;
  log: Logger;
  /** `old` is the cached object an update replaces. */
  onEvent(type: InformerEvent, obj: KubeObject, old?: KubeObject): void;
  /** What of each object the cache keeps (all of it by default): a Secret's data need not stay in memory. */
  keep?(obj: KubeObject): KubeObject;
  /** A watch restarted: reason gone (410), silent, or error. */
  onRestart?(reason: 'gone' | 'silent' | 'error'): void;
}

const PAGE = 500;
const MAX_BACKOFF_MS = 30_000;

export const objectKey = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

export class Informer {
  readonly cache = new Map<string, KubeObject>();
  synced = false;
  private stopped = false;
  private abort?: AbortController;
  private resourceVersion = '';
  private done?: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: InformerOptions,
  ) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort?.abort();
    await this.done;
  }

  private async loop(): Promise<void> {
    let relist = true;
    let failures = 0;
    while (!this.stopped) {
      try {
        if (relist) {
          await this.list();
          relist = false;
        }
        const silent = await this.watchOnce();
        failures = 0;
        if (silent) {
          this.opts.log.warn({ path: this.opts.path, silenceMs: this.opts.silenceMs }, 'watch went silent: restarting it');
          this.opts.onRestart?.('silent');
        }
      } catch (e) {
        if (this.stopped) break;
        relist = true;
        if (e instanceof KubeError && e.status === 410) {
          this.opts.log.info({ path: this.opts.path }, 'watch expired (410 Gone): relisting');
          this.opts.onRestart?.('gone');
          continue;
        }
        failures++;
        const delay = Math.min(500 * 2 ** (failures - 1), MAX_BACKOFF_MS);
        this.opts.log.warn({ path: this.opts.path, err: messageOf(e), retryInMs: delay }, 'list or watch failed: relisting after a pause');
        this.opts.onRestart?.('error');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async list(): Promise<void> {
    const items: KubeObject[] = [];
    let cont = '';
    let rv = '';
    do {
      const q = new URLSearchParams({ limit: String(PAGE), ...(cont ? { continue: cont } : {}) });
      const page = await this.client.request<{ items: KubeObject[]; metadata: { resourceVersion: string; continue?: string } }>('GET', `${this.opts.path}?${q}`);
      items.push(...page.items);
      cont = page.metadata.continue ?? '';
      rv = page.metadata.resourceVersion;
    } while (cont);
    const seen = new Set<string>();
    for (const listed of items) {
      const item = this.opts.keep ? this.opts.keep(listed) : listed;
      const key = objectKey(item);
      seen.add(key);
      const old = this.cache.get(key);
      this.cache.set(key, item);
      if (!old) this.opts.onEvent('add', item);
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.opts.onEvent('update', item, old);
    }
    for (const [key, old] of this.cache) {
      if (seen.has(key)) continue;
      this.cache.delete(key);
      this.opts.onEvent('delete', old);
    }
    this.resourceVersion = rv;
    this.synced = true;
  }

  /** One watch from the last version seen. Resolves true when it was cut for silence. */
  private async watchOnce(): Promise<boolean> {
    const abort = (this.abort = new AbortController());
    let silent = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        silent = true;
        abort.abort();
      }, this.opts.silenceMs);
    };
    let gone: KubeError | undefined;
    arm();
    try {
      await this.client.watch(
        this.opts.path,
        { resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(this.opts.watchTimeoutSeconds) },
        (e: WatchEvent) => {
          arm();
          if (e.type === 'ERROR') {
            const status = e.object as unknown as { code?: number; reason?: string; message?: string };
            gone = new KubeError(status.code ?? 500, status.reason ?? '', status.message ?? 'watch error');
            abort.abort();
            return;
          }
          if (e.object.metadata?.resourceVersion) this.resourceVersion = e.object.metadata.resourceVersion;
          if (e.type === 'BOOKMARK') return;
          if (this.opts.keep) e.object = this.opts.keep(e.object);
          const key = objectKey(e.object);
          if (e.type === 'DELETED') {
            this.cache.delete(key);
            this.opts.onEvent('delete', e.object);
          } else {
            const old = this.cache.get(key);
            this.cache.set(key, e.object);
            this.opts.onEvent(old ? 'update' : 'add', e.object, old);
          }
        },
        abort.signal,
      );
    } finally {
      clearTimeout(timer);
    }
    if (gone) throw gone;
    return silent && !this.stopped;
  }
}
