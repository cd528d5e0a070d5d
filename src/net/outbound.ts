// Where a tenant's spec may make mdmops connect. In the modes that tenants share (the controller;
// mdmops run with more than one tenant), a URL a tenant wrote must not reach this machine
// (loopback), the cloud's metadata service (link-local, 169.254.169.254) or the cluster's services
// (the ranges given): the check is made on the address each connection really goes to (a DNS
// name, a redirect or a rebinding cannot get round it). One-shot commands on an administrator's
// machine allow them, as --allow-internal-targets does.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { lookup as lookupAll } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { BlockList, isIP } from 'node:net';
import { readCapped, TooLarge } from '../util/read-capped.js';

export interface OutboundPolicy {
  /** Internal addresses may be reached (an administrator's own machine, or --allow-internal-targets). */
  allowInternal: boolean;
  /** More ranges to refuse besides loopback and link-local, e.g. the cluster's service CIDR. */
  internalRanges?: string[];
}

export class OutboundRefused extends Error {}

/** Built once per policy: every connection a sync opens is checked against it. */
const lists = new WeakMap<OutboundPolicy, BlockList>();

function internalList(policy: OutboundPolicy): BlockList {
  const built = lists.get(policy);
  if (built) return built;
  const list = new BlockList();
  list.addSubnet('127.0.0.0', 8, 'ipv4');
  list.addSubnet('169.254.0.0', 16, 'ipv4');
  list.addSubnet('0.0.0.0', 8, 'ipv4');
  list.addAddress('::1', 'ipv6');
  list.addAddress('::', 'ipv6'); // the unspecified address connects to this machine
  // Cloud metadata services outside link-local: AWS over IPv6, Alibaba Cloud.
  list.addAddress('fd00:ec2::254', 'ipv6');
  list.addAddress('100.100.100.200', 'ipv4');
  list.addSubnet('fe80::', 10, 'ipv6');
  list.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
  list.addSubnet('::ffff:169.254.0.0', 112, 'ipv6');
  for (const range of policy.internalRanges ?? []) {
    const [net, bits] = range.split('/');
    const family = isIP(net ?? '') === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(net!, Number(bits ?? (family === 'ipv6' ? 128 : 32)), family);
  }
  lists.set(policy, list);
  return list;
}

/** Why an address may not be reached under the policy, or undefined. */
export function refusal(policy: OutboundPolicy, address: string): string | undefined {
  if (policy.allowInternal) return undefined;
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  return internalList(policy).check(address, family)
    ? `${address} is an internal address (loopback, link-local or the cluster's service range), which a tenant's resources may not reach: start mdmops with --allow-internal-targets to allow it`
    : undefined;
}

/**
 * Why a host may not be reached, for a host written as an address: connecting to an address looks
 * nothing up, so guardedLookup never sees it. Names are checked by guardedLookup when resolved.
 */
export function hostRefusal(policy: OutboundPolicy, host: string): string | undefined {
  const address = host.replace(/^\[|\]$/g, '');
  return isIP(address) ? refusal(policy, address) : undefined;
}

/**
 * Why a URL may not be reached, checked before a client that takes no lookup of ours (msal, ldapts)
 * is given it: its host is resolved here and each address checked.
 */
export async function urlRefusal(policy: OutboundPolicy, url: string): Promise<string | undefined> {
  if (policy.allowInternal) return undefined;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return refusal(policy, host);
  let addresses: LookupAddress[];
  try {
    addresses = await lookupAll(host, { all: true });
  } catch {
    return undefined; // it does not resolve: the client's own connection says so
  }
  for (const a of addresses) {
    const why = refusal(policy, a.address);
    if (why) return `${host}: ${why}`;
  }
  return undefined;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net, tls, http and https that resolves as usual and refuses what the policy forbids. */
export function guardedLookup(policy: OutboundPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const list = addresses as LookupAddress[];
      for (const a of list) {
        const why = refusal(policy, a.address);
        if (why) return callback(Object.assign(new OutboundRefused(`${hostname}: ${why}`), { code: 'EREFUSEDTARGET' }), '');
      }
      if (options.all) return callback(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

export interface FetchLimits {
  maxBytes: number;
  timeoutMs: number;
  maxRedirects?: number;
}

/**
 * GET a tenant-supplied URL: its body as text, at most maxBytes, within timeoutMs in all. A redirect
 * is followed only to the same scheme and host. Errors say what failed, never what a server said.
 */
export async function fetchText(url: string, policy: OutboundPolicy, limits: FetchLimits): Promise<string> {
  const deadline = Date.now() + limits.timeoutMs;
  let target = new URL(url);
  for (let hops = 0; ; hops++) {
    const answer = await getOnce(target, policy, limits.maxBytes, Math.max(1, deadline - Date.now()));
    if ('text' in answer) return answer.text;
    if (hops >= (limits.maxRedirects ?? 3)) throw new Error(`${url}: more than ${limits.maxRedirects ?? 3} redirects`);
    const next = new URL(answer.location, target);
    if (next.protocol !== target.protocol || next.host !== target.host) {
      throw new OutboundRefused(`${target.origin} redirects to ${next.protocol}//${next.host}: a redirect is followed only to the same scheme and host`);
    }
    target = next;
  }
}

function getOnce(target: URL, policy: OutboundPolicy, maxBytes: number, timeoutMs: number): Promise<{ text: string } | { location: string }> {
  const client = target.protocol === 'https:' ? https : target.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new Error(`${target.protocol} URLs are not supported`));
  const refused = hostRefusal(policy, target.hostname);
  if (refused) return Promise.reject(new OutboundRefused(refused));
  return new Promise((resolve, reject) => {
    const req = client.get(target, { lookup: guardedLookup(policy) as never, timeout: timeoutMs }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        return resolve({ location: res.headers.location });
      }
      if (status < 200 || status >= 300) {
        res.resume();
        return reject(new Error(`${target.origin} answered ${status}`));
      }
      readCapped(res, maxBytes).then(
        (body) => resolve({ text: body.toString('utf8') }),
        (e: unknown) => {
          req.destroy();
          reject(e instanceof TooLarge ? new Error(`${target.origin}: the answer is larger than ${maxBytes} bytes`) : e);
        },
      );
    });
    const timer = setTimeout(() => req.destroy(new Error(`${target.origin}: no whole answer within ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error(`${target.origin}: no answer within ${Math.round(timeoutMs / 1000)} s`)));
    req.on('error', (e) => reject(e instanceof OutboundRefused ? e : new Error(`${target.origin}: ${(e as NodeJS.ErrnoException).code === 'ECONNREFUSED' ? 'connection refused' : e.message}`)));
  });
}
