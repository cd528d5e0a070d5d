// One-shot commands (mdmops sync, mdmops apply) reach connector agents through the server that
// holds their tunnels: an HTTP CONNECT over a Unix socket beside the store, of mode 0600 in a
// folder of mode 0700, so that only the store's owner (who could change the store anyway) can use
// it, and no TCP port is opened for it. The same socket answers the log collection commands
// (mdmops connector logs), which the gateway relays to the agent, and hands a Connector's new
// settings to its agent at once (mdmops connector log-level).
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { pipeline, type Duplex } from 'node:stream';
import { destinationOf, RouteError, splice, type RouteRequest, type Tunnels } from '../net/dial.js';
import type { Logger } from '../observe/log.js';
import { messageOf } from '../util/message-of.js';
import { readCapped } from '../util/read-capped.js';
import type { Gateway } from './gateway.js';

export type { LogCollection } from '../providers/connector/presence.js';

export const tunnelSocketPath = (stateDir: string) => join(stateDir, 'connectors.sock');

const HEADER = 'x-mdmops-route';

const LOGS_ROUTE = /^\/v1\/connectors\/([^/]+)\/([^/]+)\/logs(\/file)?$/;
const SETTINGS_ROUTE = /^\/v1\/connectors\/([^/]+)\/([^/]+)\/settings$/;

/** Serves the gateway's tunnels and log collection on the socket at `path`; refuses when another live server holds it. */
export async function serveLocalTunnels(path: string, tunnels: Gateway, log: Logger): Promise<{ close(): Promise<void> }> {
  if (existsSync(path)) {
    if (await answers(path)) throw new Error(`another mdmops server holds the connector tunnels of this store (${path})`);
    unlinkSync(path); // left by a server that did not stop cleanly
  }
  const server = http.createServer((req, res) => void logsRoute(tunnels, req, res));
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    client.on('error', () => undefined);
    let request: RouteRequest;
    try {
      request = JSON.parse(Buffer.from(String(req.headers[HEADER] ?? ''), 'base64').toString()) as RouteRequest;
    } catch {
      return void client.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    }
    tunnels.dial(request).then(
      (stream) => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) stream.write(head);
        splice(stream, client);
      },
      (e: unknown) => {
        const message = Buffer.from(messageOf(e));
        client.end(`HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: ${message.length}\r\n\r\n${message}`);
        log.debug({ destination: destinationOf(request.host, request.port) }, `a local route was refused: ${messageOf(e)}`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function logsRoute(gateway: Gateway, req: http.IncomingMessage, res: http.ServerResponse) {
  const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const settings = SETTINGS_ROUTE.exec(req.url ?? '');
  if (settings && req.method === 'POST') {
    return gateway.settingsChanged(decodeURIComponent(settings[1]!), decodeURIComponent(settings[2]!)).then(
      (connected) => json(200, { connected }),
      (e: unknown) => json(500, { error: messageOf(e) }),
    );
  }
  const m = LOGS_ROUTE.exec(req.url ?? '');
  if (!m) return json(404, { error: `no such route: ${req.method} ${req.url}` });
  const [tenant, name] = [decodeURIComponent(m[1]!), decodeURIComponent(m[2]!)];
  try {
    if (m[3] && req.method === 'GET') {
      const { name: file, stream } = await gateway.downloadLogs(tenant, name);
      res.writeHead(200, { 'content-type': 'application/zip', 'x-file-name': encodeURIComponent(file) });
      return void pipeline(stream, res, () => undefined);
    }
    if (req.method === 'POST') return json(200, await gateway.requestLogs(tenant, name));
    if (req.method === 'DELETE') return json(200, (await gateway.cancelLogs(tenant, name)) ?? null);
    if (req.method === 'GET') return json(200, gateway.logs(tenant, name) ?? null);
    json(405, { error: `${req.method} is not answered here` });
  } catch (e) {
    json(e instanceof RouteError ? 409 : 500, { error: messageOf(e) });
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** The tunnels of the server running on this store, reached through its socket. */
export function localTunnels(path: string): Tunnels {
  return {
    dial(request) {
      return new Promise<Duplex>((resolve, reject) => {
        const req = http.request({ socketPath: path, agent: false, method: 'CONNECT', path: destinationOf(request.host, request.port), headers: { [HEADER]: Buffer.from(JSON.stringify(request)).toString('base64') } });
        req.once('connect', (res, socket, head) => {
          if (res.statusCode === 200) {
            if (head.length) socket.unshift(head);
            return resolve(socket);
          }
          const chunks: Buffer[] = [head];
          socket.on('data', (c: Buffer) => chunks.push(c));
          socket.once('close', () => reject(new RouteError(Buffer.concat(chunks).toString() || `the server answered ${res.statusCode}`)));
        });
        req.once('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') {
            reject(new RouteError(`Connector/${request.connector} is reached through a running mdmops server that holds its agent's tunnel, and none runs on this store: start mdmops serve --gateway-listen :8443 (or mdmops run with --gateway-listen) on it`));
          } else reject(new RouteError(`the local tunnel socket ${path}: ${messageOf(e)}`));
        });
        req.end();
      });
    },
  };
}

/**
 * Has the server on this store give the Connector's agent its settings now: true once the agent has
 * them, false when it has no agent connected, undefined when no server runs on the store.
 */
export async function localSettingsChanged(path: string, tenant: string, name: string): Promise<boolean | undefined> {
  const res = await new Promise<http.IncomingMessage | undefined>((resolve, reject) => {
    const req = http.request({ socketPath: path, agent: false, method: 'POST', path: `/v1/connectors/${encodeURIComponent(tenant)}/${encodeURIComponent(name)}/settings` }, resolve);
    req.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? resolve(undefined) : reject(e)));
    req.end();
  });
  if (!res) return undefined;
  const body = (await readCapped(res, 1 << 16)).toString();
  if (res.statusCode !== 200) throw new Error((JSON.parse(body || '{}') as { error?: string }).error ?? `the server answered ${res.statusCode}`);
  return (JSON.parse(body) as { connected: boolean }).connected;
}

/** What mdmops connector logs asks of the server on this store. */
export async function localLogs(path: string, method: 'GET' | 'POST' | 'DELETE', tenant: string, name: string, file = false): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: path, agent: false, method, path: `/v1/connectors/${encodeURIComponent(tenant)}/${encodeURIComponent(name)}/logs${file ? '/file' : ''}` }, resolve);
    req.once('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new RouteError(`an agent's logs are collected through the running mdmops server that holds its tunnel, and none runs on this store: start mdmops serve --gateway-listen :8443 on it`) : e),
    );
    req.end();
  });
}
