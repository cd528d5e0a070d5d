// Can a server be reached at all? A TCP connect, bounded in time, where the outbound policy lets
// it go; answers are cached briefly (per policy) so a plan of many resources behind one server asks once.
import { connect } from 'node:net';
import { guardedLookup, hostRefusal, type OutboundPolicy } from './outbound.js';

export interface ProbeResult {
  ok: boolean;
  message: string;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443, 'ldap:': 389, 'ldaps:': 636, 'postgres:': 5432, 'postgresql:': 5432, 'mysql:': 3306 };
const cache = new Map<string, { at: number; result: Promise<ProbeResult> }>();
const CACHE_MS = 2000;

export function probeUrl(url: string, policy: OutboundPolicy, timeoutMs = 3000): Promise<ProbeResult> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname.replace(/^\[|\]$/g, '');
    port = u.port ? Number(u.port) : (DEFAULT_PORTS[u.protocol] ?? 0);
  } catch {
    return Promise.resolve({ ok: false, message: 'not a URL' });
  }
  return probe(host, port, policy, timeoutMs);
}

function probe(host: string, port: number, policy: OutboundPolicy, timeoutMs: number): Promise<ProbeResult> {
  const key = `${host}:${port}`;
  const cacheKey = `${policy.allowInternal} ${key}`;
  const refused = hostRefusal(policy, host);
  if (refused) return Promise.resolve({ ok: false, message: refused });
  const hit = cache.get(cacheKey);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.result;
  const result = new Promise<ProbeResult>((resolve) => {
    const socket = connect({ host, port, lookup: guardedLookup(policy) as never });
    const done = (r: ProbeResult) => {
      socket.destroy();
      resolve(r);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, message: `${key}: no answer within ${timeoutMs} ms` }));
    socket.once('connect', () => done({ ok: true, message: `${key} reachable` }));
    socket.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, message: e.code === 'EREFUSEDTARGET' ? e.message : `${key}: ${describe(e)}` }));
  });
  cache.set(cacheKey, { at: Date.now(), result });
  return result;
}

function describe(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host name does not resolve';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'network unreachable';
    default:
      return e.message;
  }
}
