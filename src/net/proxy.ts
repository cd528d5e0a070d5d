// Dialling out through a customer's HTTP proxy: Node 20 reads no proxy settings and has no proxy
// agent, so the connector agent writes the CONNECT request itself on a plain socket and starts TLS
// on the tunnel it gets back. Messages name the proxy by its origin, never with its credentials.
import { STATUS_CODES } from 'node:http';
import { BlockList, connect, isIP, type Socket } from 'node:net';

export interface ProxySettings {
  /** http://[user:password@]host[:port]; an https:// proxy is not supported. */
  url: string;
  /** Destinations reached without the proxy, as NO_PROXY: see bypassesProxy. */
  noProxy?: string[];
  /** Win over credentials in the URL. */
  username?: string;
  password?: string;
}

export class ProxyError extends Error {
  /** The proxy's HTTP status when it answered the CONNECT with a refusal (407, 403, ...). */
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** A CONNECT answer is a status line and a few headers: more than this is not a proxy talking. */
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * Whether host:port is reached directly, as curl and Go read NO_PROXY: `*` matches everything; a
 * name (with or without a leading dot, or `*.`) matches itself and its subdomains; an address
 * matches itself, a CIDR the addresses in it; `entry:port` only that port. Names are not resolved:
 * an address entry matches only a destination written as an address.
 */
export function bypassesProxy(host: string, port: number, noProxy?: string[]): boolean {
  const target = bare(host).toLowerCase().replace(/\.$/, '');
  return (noProxy ?? []).some((entry) => entryMatches(entry.trim().toLowerCase(), target, port));
}

function entryMatches(entry: string, host: string, port: number): boolean {
  if (entry === '*') return true;
  if (entry === '') return false;
  if (entry.includes('/')) return inSubnet(entry, host);
  const { name, entryPort } = splitEntry(entry);
  if (entryPort !== undefined && entryPort !== port) return false;
  if (isIP(name)) return sameAddress(name, host);
  const domain = name.replace(/^\*?\./, '').replace(/\.$/, '');
  return domain !== '' && (host === domain || host.endsWith(`.${domain}`));
}

/** `[::1]:8080`, `[::1]`, `::1`, `example.com:443`, `example.com`: the name and the port if any. */
function splitEntry(entry: string): { name: string; entryPort?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { name: bracketed[1]!, entryPort: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  const withPort = /^([^:]+):(\d+)$/.exec(entry); // one colon: a name or IPv4 address and a port
  if (withPort) return { name: withPort[1]!, entryPort: Number(withPort[2]) };
  return { name: entry };
}

function inSubnet(cidr: string, host: string): boolean {
  const [network = '', bits = ''] = cidr.split('/');
  const family = isIP(network);
  if (!family || !isIP(host) || !/^\d+$/.test(bits)) return false;
  const list = new BlockList();
  try {
    list.addSubnet(network, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
  } catch {
    return false; // a prefix too long for its family matches nothing, as curl and Go do
  }
  return list.check(host, isIP(host) === 6 ? 'ipv6' : 'ipv4');
}

/** Compared as addresses, so `::1` and `0:0::1` are the same. */
function sameAddress(entry: string, host: string): boolean {
  if (isIP(host) !== isIP(entry)) return false;
  const list = new BlockList();
  list.addAddress(entry, isIP(entry) === 6 ? 'ipv6' : 'ipv4');
  return list.check(host, isIP(host) === 6 ? 'ipv6' : 'ipv4');
}

/** A host without IPv6 brackets. */
const bare = (host: string) => host.replace(/^\[(.*)\]$/, '$1');

/**
 * A socket to host:port through the proxy, the tunnel established: start TLS on it. Whether the
 * destination should go through the proxy at all (noProxy) is the caller's call, by bypassesProxy.
 * Rejects with a ProxyError when the proxy cannot be reached, refuses or does not answer in time,
 * and with the signal's reason when aborted.
 */
export async function connectThroughProxy(
  proxy: ProxySettings,
  host: string,
  port: number,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Socket> {
  const endpoint = proxyEndpoint(proxy);
  const destination = authority(host, port);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const lines = [`CONNECT ${destination} HTTP/1.1`, `Host: ${destination}`];
  if (endpoint.authorization) lines.push(`Proxy-Authorization: ${endpoint.authorization}`);
  return dial(endpoint, destination, `${lines.join('\r\n')}\r\n\r\n`, timeoutMs, options.signal);
}

interface ProxyEndpoint {
  /** http://host:port, without credentials: what messages name. */
  origin: string;
  host: string;
  port: number;
  authorization?: string;
}

function proxyEndpoint(proxy: ProxySettings): ProxyEndpoint {
  let url: URL;
  try {
    url = new URL(proxy.url);
  } catch {
    // Not repeated in the message: it may hold a password.
    throw new ProxyError('the proxy URL is not a valid URL (expected http://host:port)');
  }
  if (url.protocol === 'https:') {
    throw new ProxyError(`proxy ${url.origin}: https:// proxies (TLS to the proxy itself) are not supported: give the proxy's http:// address`);
  }
  if (url.protocol !== 'http:') throw new ProxyError(`the proxy URL must start with http:// (it starts with ${url.protocol})`);
  const username = proxy.username ?? decoded(url.username);
  const password = proxy.password ?? decoded(url.password);
  const authorization = username || password ? `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}` : undefined;
  return { origin: url.origin, host: bare(url.hostname), port: Number(url.port || 80), authorization };
}

/** URL userinfo is percent-encoded; a stray % is taken as written. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** host:port as a CONNECT request names it, IPv6 in brackets. */
function authority(host: string, port: number): string {
  const name = bare(host);
  // Written into the request line: nothing that could end it or add a header.
  if (!/^[A-Za-z0-9._:%-]+$/.test(name) || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new ProxyError(`cannot CONNECT to ${JSON.stringify(host)} port ${port}: not a host and port`);
  }
  return isIP(name) === 6 ? `[${name}]:${port}` : `${name}:${port}`;
}

function dial(endpoint: ProxyEndpoint, destination: string, request: string, timeoutMs: number, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const proxy = `proxy ${endpoint.origin}`;
    const socket = connect({ host: endpoint.host, port: endpoint.port });
    let connected = false;
    let received = Buffer.alloc(0);

    const settle = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('connect', onConnect).off('readable', onReadable).off('error', onError).off('end', onEnd);
    };
    const fail = (e: Error) => {
      settle();
      socket.destroy();
      reject(e);
    };
    const onAbort = () => fail(abortReason(signal!));
    const onConnect = () => {
      connected = true;
      socket.write(request);
    };
    const onError = (e: NodeJS.ErrnoException) => {
      fail(new ProxyError(connected ? `${proxy}: connection lost while waiting for its answer to CONNECT ${destination}: ${reasonOf(e)}` : `${proxy} unreachable: ${reasonOf(e)}`));
    };
    const onEnd = () => fail(new ProxyError(`${proxy} closed the connection without answering CONNECT ${destination}`));
    // 'readable' rather than 'data': the socket is not left paused, so whoever takes it reads as usual.
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = socket.read() as Buffer | null) !== null; ) {
        received = Buffer.concat([received, chunk]);
        const end = received.indexOf('\r\n\r\n');
        if (end === -1 ? received.length >= MAX_HEAD_BYTES : end + 4 > MAX_HEAD_BYTES) {
          return fail(new ProxyError(`${proxy} answered CONNECT ${destination} with a head larger than ${MAX_HEAD_BYTES} bytes`));
        }
        if (end !== -1) return answered(received.subarray(0, end).toString('latin1'), received.subarray(end + 4));
      }
    };
    const answered = (head: string, rest: Buffer) => {
      const status = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?/.exec(head);
      if (!status) return fail(new ProxyError(`${proxy} answered CONNECT ${destination} with something other than HTTP`));
      const code = Number(status[1]);
      if (code < 200 || code > 299) {
        return fail(new ProxyError(`${proxy} refused CONNECT to ${destination}: ${code} ${reasonPhrase(code, status[2])}${hint(code, endpoint.authorization !== undefined)}`, code));
      }
      settle();
      // What the destination sent right after the proxy's answer, read with it: put back for the caller.
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };

    const timer = setTimeout(
      () => fail(new ProxyError(`${proxy} did not ${connected ? `answer CONNECT ${destination}` : 'accept a connection'} within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', onConnect).on('readable', onReadable).on('error', onError).on('end', onEnd);
  });
}

/** The proxy's own words, printable and short, or the standard phrase. */
function reasonPhrase(code: number, given: string | undefined): string {
  const cleaned = (given ?? '').replace(/[^\x20-\x7e]/g, '').trim().slice(0, 100);
  return cleaned || STATUS_CODES[code] || 'refused';
}

/** What to do about the refusals an administrator can fix. */
function hint(code: number, sentCredentials: boolean): string {
  // tinyproxy up to 1.11 answers wrong credentials with 401 rather than 407 (its issue #532).
  if (code === 407 || code === 401) {
    return sentCredentials
      ? ' (the proxy refused the credentials given: check the user and password in httpProxy.credentialsSecretRef)'
      : ' (the proxy wants credentials: set httpProxy.credentialsSecretRef)';
  }
  if (code === 403) return ' (the proxy does not allow this destination or port)';
  return '';
}

function reasonOf(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'its name does not resolve';
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'no route to it';
    default:
      return e.message;
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}
