// One-shot commands (mdmops sync, mdmops apply) reach connector agents through the server that
// holds their tunnels: an HTTP CONNECT over a Unix socket beside the store, of mode 0600 in a
// folder of mode 0700, so that only the store's owner (who could change the store anyway) can use
// it, and no TCP port is opened for it.
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { RouteError, splice, type RouteRequest, type Tunnels } from '../net/dial.js';
import type { Logger } from '../observe/log.js';
import { messageOf } from '../util/message-of.js';
import { destinationOf } from './gateway.js';

export const tunnelSocketPath = (stateDir: string) => join(stateDir, 'connectors.sock');

const HEADER = 'x-mdmops-route';

/** Serves `tunnels` on the socket at `path`; refuses when another live server holds it. */
export async function serveLocalTunnels(path: string, tunnels: Tunnels, log: Logger): Promise<{ close(): Promise<void> }> {
  if (existsSync(path)) {
    if (await answers(path)) throw new Error(`another mdmops server holds the connector tunnels of this store (${path})`);
    unlinkSync(path); // left by a server that did not stop cleanly
  }
  const server = http.createServer((_req, res) => res.writeHead(405).end());
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
        const req = http.request({ socketPath: path, method: 'CONNECT', path: destinationOf(request.host, request.port), headers: { [HEADER]: Buffer.from(JSON.stringify(request)).toString('base64') } });
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
