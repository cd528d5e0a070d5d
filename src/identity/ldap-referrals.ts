// Search continuation references (RFC 4511 4.5.3): which of a reference's LDAP URLs (RFC 4516) an
// LdapSource follows, and with what base, scope and filter. Only the server the source names is
// followed (its URL's host, or another name of it the source gives), over the source's own
// connection: a connector dials only what a resource names, and a referral's scheme (AD writes
// ldap:// whatever the client's transport) must not take the bind password off TLS. Pure.
import { dnKey } from './ldap-names.js';

export type Scope = 'base' | 'one' | 'sub';

/** The server a source reads, and the other names its referrals may give it (an AD DC's domain DNS name). */
export interface ReferralServer {
  host: string;
  port: number;
  aliases: readonly string[];
}

/** Where a followed reference continues the search. */
export interface ReferralSearch {
  base: string;
  scope: Scope;
  /** Given by the URL (RFC 4511: otherwise the search's own filter). */
  filter?: string;
}

export type ReferralChoice = { follow: ReferralSearch } | { refused: string };

const SCOPES: Record<string, Scope> = { base: 'base', one: 'one', sub: 'sub' };

/** An LDAP URL's parts (RFC 4516: `ldap://host:port/dn?attributes?scope?filter?extensions`), or why it cannot be followed. */
export function parseLdapUrl(text: string): { host: string; port?: number; dn: string; scope?: Scope; filter?: string } | string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'ldap:' && url.protocol !== 'ldaps:') return `${url.protocol} is not LDAP`;
  // RFC 4516: the parts after the DN are separated by ?, each percent-encoded.
  const [, , scope = '', filter = '', extensions = ''] = url.search.split('?');
  if (extensions.split(',').some((e) => e.startsWith('!'))) return 'it has a critical extension (RFC 4516 2.1)';
  if (scope && !SCOPES[scope.toLowerCase()]) return `unknown scope ${scope}`;
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase(),
    ...(url.port ? { port: Number(url.port) } : {}),
    dn: decodeURIComponent(url.pathname.replace(/^\//, '')),
    ...(scope ? { scope: SCOPES[scope.toLowerCase()]! } : {}),
    ...(filter ? { filter: decodeURIComponent(filter) } : {}),
  };
}

/**
 * What to do with one reference (its URIs, any of which continues the search, RFC 4511 4.5.3) met
 * by a search of `scope`: the first URL naming the server, or why none can be followed.
 */
export function chooseReferral(uris: readonly string[], server: ReferralServer, scope: Scope): ReferralChoice {
  const names = new Set([server.host, ...server.aliases].map((h) => h.toLowerCase()));
  const why: string[] = [];
  for (const uri of uris) {
    const url = parseLdapUrl(uri);
    if (typeof url === 'string') why.push(`${uri}: ${url}`);
    else if (!names.has(url.host)) why.push(`${uri}: ${url.host} is neither the host of url nor one of serverAliases`);
    // Another port of the same host is another service (a global catalog's 3268).
    else if (url.port !== undefined && url.port !== server.port) why.push(`${uri}: port ${url.port} is not the port of url (${server.port})`);
    else if (!url.dn) why.push(`${uri}: no DN to continue from`);
    else return { follow: { base: url.dn, scope: url.scope ?? scope, ...(url.filter ? { filter: url.filter } : {}) } };
  }
  return { refused: why.join('; ') };
}

/** A search, and how many referrals led to it. */
export interface ReferredSearch {
  base: string;
  scope: Scope;
  filter: string;
  hops: number;
}

/** Referrals followed from a referral's answer, and so on: no deeper (RFC 4511 4.5.3: clients must not loop). */
export const MAX_REFERRAL_HOPS = 4;

/** What makes two searches the same one: base (as LDAP compares DNs), scope and filter. */
export const searchKey = (s: Omit<ReferredSearch, 'hops'>) => `${s.scope} ${s.filter} ${dnKey(s.base)}`;

/**
 * The searches the references a search met lead on to, each once (`seen` holds the keys of those
 * made or to be made, and gets theirs), and the references not followed, with why.
 */
export function nextSearches(from: ReferredSearch, references: readonly (readonly string[])[], server: ReferralServer, seen: Set<string>): { next: ReferredSearch[]; refused: string[] } {
  const next: ReferredSearch[] = [];
  const refused: string[] = [];
  for (const uris of references) {
    const choice = chooseReferral(uris, server, from.scope);
    if ('refused' in choice) {
      refused.push(choice.refused);
      continue;
    }
    const search = { base: choice.follow.base, scope: choice.follow.scope, filter: choice.follow.filter ?? from.filter, hops: from.hops + 1 };
    if (seen.has(searchKey(search))) continue; // made already: a loop, or two references to one place
    if (search.hops > MAX_REFERRAL_HOPS) refused.push(`${uris.join(' or ')}: more than ${MAX_REFERRAL_HOPS} referrals deep`);
    else seen.add(searchKey(search)), next.push(search);
  }
  return { next, refused };
}
