// The HTTP face of the long-running modes (mdmops run, mdmops controller): /healthz (the process
// is alive), /readyz (it can do its job: leader elected or standing by, store open, first sync
// done), /metrics for Prometheus, open to probes and scrapers; and whatever the mode adds: its
// status API, behind a bearer token beyond loopback, and hooks that check their own callers.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { readCapped, TooLarge } from '../util/read-capped.js';
import { sameSecret } from '../util/same-secret.js';
import type { Registry } from '../observe/metrics.js';

/** A route reads the request body only if it needs it (up to maxBody, else the answer is 413). */
export type Route = (req: IncomingMessage, body: () => Promise<Buffer>) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;

export interface HttpOptions {
  host?: string;
  port: number;
  metrics: Registry;
  /** Why the process is not ready, or undefined when it is. */
  notReady: () => string | undefined;
  /**
   * The JSON API (the status API), by "METHOD /path" (exact path; the query string is the route's
   * to read). It shows what the tenant holds: with apiToken set it needs `Authorization: Bearer`;
   * without one it answers only on a loopback listener.
   */
  routes?: Record<string, Route>;
  apiToken?: string;
  /** Routes that authenticate their callers themselves (the git webhook's signature). */
  hooks?: Record<string, Route>;
  /** Request bodies above this are refused (413), so a stray client cannot exhaust memory. */
  maxBody?: number;
}

export interface RunningHttp {
  server: Server;
  port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
  const type = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json';
  res.writeHead(status, { 'content-type': type, ...headers }).end(text);
}


/**
 * What one client may hold: headers within 16 KiB and 10 s, a whole request within 30 s, an idle
 * kept-alive connection 5 s, and 128 connections at once.
 */
const LIMITS = { maxHeaderSize: 16 * 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 5_000, maxConnections: 128 };

/** Whether a listen host keeps its listener on this machine. */
function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** Why the API refuses this request, or undefined when it may go on. Tokens compare in constant time. */
function apiRefusal(req: IncomingMessage, token: string | undefined, loopback: boolean): { status: number; error: string } | undefined {
  if (token === undefined) {
    return loopback ? undefined : { status: 403, error: 'the status API answers beyond loopback only with a token: start mdmops with --api-token-file (or MDMOPS_API_TOKEN)' };
  }
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (given !== undefined && sameSecret(given, token)) return undefined;
  return { status: 401, error: 'unauthorized: send the API token as Authorization: Bearer TOKEN' };
}

export async function serveHttp(opts: HttpOptions): Promise<RunningHttp> {
  const maxBody = opts.maxBody ?? 1 << 20;
  const host = opts.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  const server = createServer({ maxHeaderSize: LIMITS.maxHeaderSize, headersTimeout: LIMITS.headersTimeoutMs, requestTimeout: LIMITS.requestTimeoutMs, keepAliveTimeout: LIMITS.keepAliveTimeoutMs, connectionsCheckingInterval: 1_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handle = async () => {
      if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n');
      if (req.method === 'GET' && path === '/readyz') {
        const why = opts.notReady();
        return why ? send(res, 503, `not ready: ${why}\n`) : send(res, 200, 'ok\n');
      }
      if (req.method === 'GET' && path === '/metrics') {
        return send(res, 200, opts.metrics.render(), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      }
      const key = `${req.method} ${path}`;
      const route = opts.hooks?.[key] ?? opts.routes?.[key];
      if (!route) return send(res, 404, { error: `no route ${key}` });
      if (!opts.hooks?.[key]) {
        const refused = apiRefusal(req, opts.apiToken, loopback);
        if (refused) return send(res, refused.status, { error: refused.error }, refused.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
      }
      const answer = await route(req, () => readCapped(req, maxBody));
      // An answer given without reading the body ends the connection: what is left of it is not read.
      if (!req.complete) res.setHeader('connection', 'close');
      send(res, answer.status, answer.body, answer.headers);
    };
    handle().catch((e: Error) => {
      if (res.headersSent) return;
      if (e instanceof TooLarge) send(res, 413, { error: `request body larger than ${maxBody} bytes` }, { connection: 'close' });
      else send(res, 500, { error: e.message });
    });
  });
  server.maxConnections = LIMITS.maxConnections;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
