// A route to a server inside a customer network: a byte stream to host:port opened by a connector's
// agent. Integration libraries take a Dial where they would open a socket, so that LDAP, SCEP (and
// later SQL) traffic goes through whichever transport the caller hands them.
import { finished, type Duplex } from 'node:stream';

export type Dial = (host: string, port: number) => Promise<Duplex>;

/** Who asks for a route: the resource of the tenant whose spec names the destination through the connector. */
export interface RouteRequest {
  tenant: string;
  connector: string;
  host: string;
  port: number;
  /** The resource that names host:port, with its spec as being reconciled (it may not be stored yet). */
  resource: { kind: string; name: string; spec: Record<string, unknown> };
}

/** The tunnels of connector agents, however they are reached (in the process that holds them, or through it). */
export interface Tunnels {
  dial(request: RouteRequest): Promise<Duplex>;
}

export class RouteError extends Error {}

const DEFAULT_PORTS: Record<string, number> = { 'ldap:': 389, 'ldaps:': 636, 'http:': 80, 'https:': 443, 'postgres:': 5432, 'postgresql:': 5432, 'mysql:': 3306, 'mariadb:': 3306 };

/** host:port as HTTP writes it (IPv6 in brackets): how destinations are named between gateway and agent. */
export const destinationOf = (host: string, port: number) => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/** host and port of a URL, with its scheme's default port; IPv6 brackets removed. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[u.protocol];
  if (!port) throw new RouteError(`${url}: no port, and ${u.protocol} has no default`);
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * Joins two streams both ways: what one says the other hears, an end is passed on (so that a reply
 * still on its way is delivered), and only a stream that fails or closes before its end takes the
 * other down with it.
 */
export function splice(a: Duplex, b: Duplex): void {
  a.pipe(b);
  b.pipe(a);
  const broken = (e: unknown) => {
    if (!e) return;
    a.destroy();
    b.destroy();
  };
  finished(a, broken);
  finished(b, broken);
}
