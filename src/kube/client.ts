// A small REST client for the Kubernetes API, with the credentials kubeconfig.ts finds; requests go
// through node:https so that every call is bounded in time, a watch can be aborted when it goes
// silent, and each write is counted.
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';
import { createSecureContext } from 'node:tls';
import type { Credentials, KubeAccess } from './kubeconfig.js';

const TLS_FIELDS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'] as const;

export class KubeError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
}

export const JSON_PATCH = 'application/json-patch+json';
export const MERGE_PATCH = 'application/merge-patch+json';

const REQUEST_TIMEOUT_MS = 30_000;
const SLOW_MS = 5_000;

export class KubeClient {
  /** Requests that change something, by verb: what a no-op resync must not make. */
  onWrite?: (method: string, path: string) => void;
  /** A request that took long, or had to be sent again. */
  onSlow?: (method: string, path: string, ms: number, what: string) => void;

  private agent?: { tls: Omit<Credentials, 'headers'>; agent: HttpsAgent };

  /**
   * `userAgent`, such as mdmops/0.1.0: the API server names the field manager of each write after
   * it (what comes before the slash), as kubectl shows in managedFields; without one, "unknown".
   */
  constructor(
    private readonly access: KubeAccess,
    private readonly userAgent?: string,
  ) {}

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent?.agent.destroy();
  }

  get server(): string {
    return this.access.server;
  }

  private async options(method: string, path: string, headers: Record<string, string>): Promise<{ url: URL; opts: RequestOptions }> {
    const url = new URL(this.server + path);
    const { headers: auth, ...tls } = await this.access.credentials();
    const opts: RequestOptions = { method, headers: { accept: 'application/json', ...(this.userAgent ? { 'user-agent': this.userAgent } : {}), ...headers, ...auth } };
    if (url.protocol === 'https:') {
      // One kept-alive Agent per set of TLS credentials (a rotated certificate gets a new one); the
      // same credentials come as the same values, compared without reading them. Their certificates
      // and key are read once, into one TLS context: given them instead, the Agent would read them
      // again for every connection, and copy them into the name it pools sockets by on every request.
      if (!this.agent || TLS_FIELDS.some((f) => this.agent!.tls[f] !== tls[f])) {
        this.agent?.agent.destroy();
        const { ca, cert, key, ...rest } = tls;
        this.agent = { tls, agent: new HttpsAgent({ ...rest, secureContext: createSecureContext({ ca, cert, key }), keepAlive: true }) };
      }
      opts.agent = this.agent.agent;
    }
    return { url, opts };
  }

  async request<T = KubeObject>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const { url, opts } = await this.options(method, path, payload ? { 'content-type': contentType, 'content-length': String(payload.length) } : {});
    if (method !== 'GET') this.onWrite?.(method, path);
    const send = () =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { ...opts, timeout: REQUEST_TIMEOUT_MS }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${REQUEST_TIMEOUT_MS / 1000}s`)));
        // A kept-alive connection the server closed just as it was reused: the request never reached it.
        req.on('error', (e: NodeJS.ErrnoException) => reject(Object.assign(e, { stale: req.reusedSocket && e.code === 'ECONNRESET' })));
        req.end(payload);
      });
    const started = Date.now();
    const { status, text } = await send().catch((e: { stale?: boolean }) => {
      if (!e.stale) throw e;
      this.onSlow?.(method, path, Date.now() - started, 'retried on a fresh connection');
      return send();
    });
    if (Date.now() - started > SLOW_MS) this.onSlow?.(method, path, Date.now() - started, `answered ${status}`);
    const parsed = text ? safeJson(text) : undefined;
    if (status >= 200 && status < 300) return parsed as T;
    const s = (parsed ?? {}) as { reason?: string; message?: string };
    throw new KubeError(status, s.reason ?? String(status), `${method} ${path}: ${status} ${s.message ?? text.slice(0, 200)}`);
  }

  /**
   * A watch: each event goes to onEvent; resolves when the server ends it (or the signal aborts it),
   * rejects on a failed connection or a non-200 answer.
   */
  async watch(path: string, query: Record<string, string>, onEvent: (e: WatchEvent) => void, signal: AbortSignal): Promise<void> {
    const qs = new URLSearchParams({ ...query, watch: 'true' }).toString();
    const { url, opts } = await this.options('GET', `${path}?${qs}`, {});
    await new Promise<void>((resolve, reject) => {
      const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { ...opts, signal }, (res) => {
        if (res.statusCode !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const s = (safeJson(Buffer.concat(chunks).toString('utf8')) ?? {}) as { reason?: string; message?: string };
            reject(new KubeError(res.statusCode ?? 0, s.reason ?? '', `watch ${path}: ${res.statusCode} ${s.message ?? ''}`));
          });
          return;
        }
        const lines = createInterface({ input: res });
        // An aborted watch (stop, silence) ends with an error on its stream: that is its end, not a failure.
        lines.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
        lines.on('line', (line) => {
          const e = safeJson(line) as WatchEvent | undefined;
          if (e?.type) onEvent(e);
        });
        res.on('close', () => resolve());
        res.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      });
      req.on('error', (err) => (signal.aborted ? resolve() : reject(err)));
      req.end();
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined; // not JSON (a proxy's page): the caller reports the status and text
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof KubeError && e.status === 409;
