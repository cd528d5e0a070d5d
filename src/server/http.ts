// The HTTP face of the long-running modes (mdmops run, mdmops controller): /healthz (the process
// is alive), /readyz (it can do its job: leader elected or standing by, store open, first sync
// done), /metrics for Prometheus, and whatever JSON routes the mode adds (its status API, a webhook).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from './metrics.js';

export type Route = (req: IncomingMessage, body: Buffer) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;

export interface HttpOptions {
  host?: string;
  port: number;
  metrics: Registry;
  /** Why the process is not ready, or undefined when it is. */
  notReady: () => string | undefined;
  /** Routes by "METHOD /path" (exact path; the query string is the route's to read). */
  routes?: Record<string, Route>;
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

async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export async function serveHttp(opts: HttpOptions): Promise<RunningHttp> {
  const maxBody = opts.maxBody ?? 1 << 20;
  const server = createServer((req, res) => {
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
      const route = opts.routes?.[`${req.method} ${path}`];
      if (!route) return send(res, 404, { error: `no route ${req.method} ${path}` });
      const body = await readBody(req, maxBody);
      if (!body) return send(res, 413, { error: `request body larger than ${maxBody} bytes` });
      const answer = await route(req, body);
      send(res, answer.status, answer.body, answer.headers);
    };
    handle().catch((e: Error) => { if (!res.headersSent) send(res, 500, { error: e.message }); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
