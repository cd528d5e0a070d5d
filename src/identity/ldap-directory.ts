// Reading users and groups from an LDAP directory: simple bind with ldapts over ldap:// (with
// StartTLS) or ldaps://, paged searches (RFC 2696) decoded as they arrive (ldap-search.ts),
// attribute mapping and group membership from both memberOf and the groups' member attributes
// (DNs, or RFC 2307's memberUid uids; Active Directory's ranges of them read on to the end; nested
// groups walked up when asked; a user's memberOf ranges read on too), names matched as
// ldap-names.ts says; search continuation references followed when asked (ldap-referrals.ts).
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { Client } from 'ldapts';
import { hostPort, type Dial } from '../net/dial.js';
import { caseIgnore, dnKey, memberDnKey } from './ldap-names.js';
import { nextSearches, searchKey, type ReferralServer } from './ldap-referrals.js';
import { endSearches, pagedSearch, takeSocket, type EntryHandler, type PagedSearch, type Values } from './ldap-search.js';

export interface LdapReadSpec {
  url: string;
  startTls: boolean;
  tls?: { serverName?: string };
  bindDn: string;
  baseDn: string;
  userSearchBase?: string;
  groupSearchBase?: string;
  userFilter: string;
  groupFilter: string;
  attributeMapping: { uid: string; userPrincipalName: string; email: string; firstName: string; lastName: string; displayName: string; memberOf: string; groupName: string; groupMember: string };
  customAttributes?: { name: string; attribute?: string }[];
  pageSize: number;
  /** A user is in the groups its groups are in, to any depth. */
  nestedGroups?: boolean;
  /** Follow search continuation references to the server at url (or one of serverAliases). */
  followReferrals?: boolean;
  serverAliases?: string[];
}

export interface DirectoryEntry {
  uid: string;
  upn?: string;
  email?: string;
  displayName?: string;
  firstName?: string;
  lastName?: string;
  groups: string[];
  attributes: Record<string, string | string[]>;
}

export interface DirectoryRead {
  users: DirectoryEntry[];
  groupCount: number;
  /** Entries the user search found without the id attribute, and with an id an entry read before has. */
  skipped: { noId: Skipped; sameId: Skipped };
  /** With followReferrals: the references not followed, each with why. */
  notFollowed: string[];
}

/** Entries skipped for one reason: how many, and the first few DNs. */
export interface Skipped {
  count: number;
  first: string[];
}

const TIMEOUT_MS = 30_000;

// Active Directory's ids are binary: read as bytes and written as hex, never decoded as (lossy) UTF-8.
const BINARY = ['objectguid', 'objectsid'];
const first = (v: Values): string | undefined => (typeof v === 'string' ? v : v?.[0]) || undefined;
const list = (v: Values): readonly string[] => (v === undefined ? [] : typeof v === 'string' ? [v] : v);
/**
 * Active Directory's objectGUID (16 bytes, read as hex) in the GUID's string form, as AD's own tools
 * show it: the first three fields are little-endian. Pure.
 */
export function guidString(hex: string): string {
  if (!/^[0-9a-f]{32}$/.test(hex)) return hex;
  const swap = (from: number, to: number) => hex.slice(from, to).match(/../g)!.reverse().join('');
  return `${swap(0, 8)}-${swap(8, 12)}-${swap(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
const OBJECT_GUID = 'objectguid';

/** The groups of a user in none: shared, so frozen. */
const NO_GROUPS: string[] = Object.freeze([]) as unknown as string[];

/**
 * LDAP attribute names are case-insensitive ("mail" and "Mail" are one attribute, and the server
 * answers with its own spelling): the names asked for once each, and where each mapped name's
 * values come among them.
 */
function attributeSlots(names: string[]) {
  const distinct: string[] = [];
  const index = new Map<string, number>();
  for (const n of names) {
    const k = n.toLowerCase();
    if (!index.has(k)) index.set(k, distinct.push(n) - 1);
  }
  return { distinct, at: (name: string) => index.get(name.toLowerCase())! };
}

/** RFC 2307: memberUid names a member by this attribute of its entry, whatever attribute the id is mapped from. */
const POSIX_UID = 'uid';
/** Skipped entries named in the report. */
const SKIPPED_SHOWN = 3;

/** The attributes groupMember names: one, or several separated by commas (attribute names have none). */
export const memberAttributes = (groupMember: string): string[] => groupMember.split(',').map((a) => a.trim()).filter(Boolean);

/** What a round says of the references it did not follow (followReferrals). Pure. */
export function describeNotFollowed(notFollowed: readonly string[]): string | undefined {
  if (!notFollowed.length) return undefined;
  const shown = notFollowed.slice(0, SKIPPED_SHOWN).join('; ');
  const more = notFollowed.length > SKIPPED_SHOWN ? ` and ${notFollowed.length - SKIPPED_SHOWN} more` : '';
  return `${notFollowed.length === 1 ? '1 referral was' : `${notFollowed.length} referrals were`} not followed, and the entries there not read: ${shown}${more}; the connector reaches only the server url names: list its other names (the domain's DNS name) in serverAliases`;
}

/** What a round says of the entries it skipped, `attribute` being the id attribute. Pure. */
export function describeSkipped(attribute: string, skipped: DirectoryRead['skipped']): string | undefined {
  const part = ({ count, first }: Skipped, has: string, have: string, hint: string) => {
    if (!count) return [];
    const more = count > first.length ? ` and ${count - first.length} more` : '';
    return [`${count === 1 ? `1 entry ${has}` : `${count} entries ${have}`} and ${count === 1 ? 'was' : 'were'} skipped: ${first.join('; ')}${more}; ${hint}`];
  };
  const parts = [
    ...part(skipped.noId, `has no ${attribute} (the id attribute)`, `have no ${attribute} (the id attribute)`, 'userFilter can leave out entries that are not users'),
    ...part(skipped.sameId, `has the ${attribute} of an entry read before it`, `have the ${attribute} of an entry read before them`, `the first keeps the id; each user needs a ${attribute} of its own`),
  ];
  return parts.length ? parts.join('. ') : undefined;
}

/**
 * A bound connection, ldap:// (with StartTLS when asked) or ldaps://, made by ldapts; its socket is
 * then taken for the searches (ldap-search.ts).
 */
async function connect(spec: LdapReadSpec, password: string, caPem?: string, dial?: Dial): Promise<Duplex> {
  const tlsOptions = { ...(caPem ? { ca: caPem } : {}), ...(spec.tls?.serverName ? { servername: spec.tls.serverName } : {}) };
  // ldapts speaks TLS from the first byte whenever it is given tlsOptions: only for ldaps://.
  const ldaps = /^ldaps:/i.test(spec.url);
  const options = { url: spec.url, timeout: TIMEOUT_MS, connectTimeout: TIMEOUT_MS, ...(ldaps ? { tlsOptions } : {}) };
  const client = dial ? dialledClient(options, dial, ldaps ? tlsOptions : undefined) : new Client(options);
  try {
    if (spec.startTls) await client.startTLS(tlsOptions);
    await client.bind(spec.bindDn, password);
    return takeSocket(client);
  } catch (e) {
    await client.unbind().catch(() => undefined); // the bind's error is the one to report
    throw e;
  }
}

type ConnectInternals = { isConnected: boolean; socket?: Duplex & { id?: string }; _connect(): Promise<void> | void; _onConnect(done: () => void): void };

/**
 * An ldapts client whose connection is opened by `dial` (a connector's tunnel) instead of a socket
 * of its own: ldapts has no hook for it, so its connect step is replaced; the LDAP it speaks is the same.
 */
function dialledClient(options: ConstructorParameters<typeof Client>[0], dial: Dial, tlsOptions?: ConnectionOptions): Client {
  const client = new Client(options);
  const c = client as unknown as ConnectInternals;
  const { host, port } = hostPort(options.url);
  c._connect = async () => {
    if (c.isConnected) return;
    const stream = await dial(host, port);
    const socket: Duplex & { id?: string } = tlsOptions ? await secured(stream, host, tlsOptions) : stream;
    socket.id = randomUUID();
    c.socket = socket;
    await new Promise<void>((resolve) => c._onConnect(resolve));
  };
  return client;
}

function secured(stream: Duplex, host: string, tlsOptions: ConnectionOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ servername: host, ...tlsOptions, socket: stream });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Users handed over between turns of the event loop, so that reading goes on meanwhile. */
const SLICE = 1000;

/**
 * Reads the directory's users and groups. With `onUser`, each user goes to it as soon as its groups
 * are known (those read before the last group, a slice at a time once it is), in the order read,
 * and the result's users are empty.
 */
export interface LdapAccess {
  password: string;
  caPem?: string;
  /** Opens the connections (through a connector); a direct socket when absent. */
  dial?: Dial;
}

export async function readLdapDirectory(spec: LdapReadSpec, access: LdapAccess, progress?: (users: number) => void, onUser?: (user: DirectoryEntry) => void): Promise<DirectoryRead> {
  const m = spec.attributeMapping;
  const custom = spec.customAttributes ?? [];
  // Groups and users are read at once, on a connection each: OpenLDAP keeps one paged search per
  // connection, and a second one interleaved on it gets "paged results cookie is invalid".
  const sockets: Duplex[] = [];
  const open = async () => {
    const s = await connect(spec, access.password, access.caPem, access.dial);
    sockets.push(s);
    return s;
  };
  const search = (filter: string, base: string | undefined, attributes: string[]): PagedSearch => ({
    base: base ?? spec.baseDn,
    scope: 'sub',
    filter,
    attributes,
    binary: attributes.filter((a) => BINARY.includes(a.toLowerCase())),
    pageSize: spec.pageSize,
    timeoutMs: TIMEOUT_MS,
  });
  const notFollowed = new Set<string>();
  const server: ReferralServer = { ...hostPort(spec.url), aliases: spec.serverAliases ?? [] };
  /**
   * A search, then (with followReferrals) the searches its continuation references lead to, one
   * after the other on the same connection, with the same attributes: each base, scope and filter
   * searched once, a few hops deep at most. Without it, references are passed over.
   */
  const searchAll = async (socket: Duplex, first: PagedSearch, onEntry: EntryHandler, onPage?: (entries: number) => void) => {
    const seen = new Set([searchKey(first)]);
    const queue = [{ ...first, hops: 0 }];
    for (let search = queue.shift(); search; search = queue.shift()) {
      const references: string[][] = [];
      await pagedSearch(socket, search, onEntry, onPage, spec.followReferrals ? (uris) => references.push(uris) : undefined);
      const { next, refused } = nextSearches(search, references, server, seen);
      for (const r of refused) notFollowed.add(r);
      for (const n of next) queue.push({ ...search, ...n });
    }
  };
  /**
   * The values of an entry's attribute from index `from` on, range after range (Active Directory
   * sends at most MaxValRange values at once, MS-ADTS 3.1.1.3.1.3.3), until a range that ends in *.
   */
  const readRest = async (socket: Duplex, dn: string, attribute: string, from: number, onValues: (values: Values) => void) => {
    for (let next: number | undefined = from; next !== undefined; ) {
      const at: number = next;
      next = undefined;
      await pagedSearch(socket, { ...search('(objectClass=*)', dn, [`${attribute};range=${at}-*`]), scope: 'base' }, (_dn, v, more) => {
        onValues(v[0]);
        next = more[0];
      });
      if (next !== undefined && next <= at) throw new Error(`${dn}: the range of ${attribute} values after ${at} does not move on`);
    }
  };
  try {
    const groupOf = new Map<string, string>();
    // The groups naming each member: by the dnKey of its DN, or by the caseIgnore of its uid.
    const membersOf = new Map<string, string[]>();
    const membersByUid = new Map<string, string[]>();
    const addMember = (members: Map<string, string[]>, key: string, name: string) => {
      const names = members.get(key);
      if (names) names.push(name);
      else members.set(key, [name]);
    };
    // With nestedGroups: the dnKeys of the groups naming each member (by DN or uid), to walk up from.
    const nested = spec.nestedGroups === true;
    const containers = new Map<string, string[]>();
    const containersByUid = new Map<string, string[]>();
    let groupsRead = false;
    const readGroups = async () => {
      const socket = await open();
      const memberNames = memberAttributes(m.groupMember);
      const slots = attributeSlots([m.groupName, ...memberNames]);
      const nameAt = slots.at(m.groupName);
      const memberAts = [...new Set(memberNames.map(slots.at))];
      const addMembers = (groupKey: string, name: string, members: Values) => {
        for (const member of list(members)) {
          const key = memberDnKey(member);
          if (key !== undefined) {
            addMember(membersOf, key, name);
            if (nested) addMember(containers, key, groupKey);
          } else {
            addMember(membersByUid, caseIgnore(member), name);
            if (nested) addMember(containersByUid, caseIgnore(member), groupKey);
          }
        }
      };
      // Groups whose members came in part (Active Directory sends at most MaxValRange values of an attribute).
      const partial: { dn: string; key: string; name: string; attribute: string; next: number }[] = [];
      await searchAll(socket, search(spec.groupFilter, spec.groupSearchBase, slots.distinct), (dn, v, more) => {
        const name = first(v[nameAt]) ?? dn;
        const key = dnKey(dn);
        groupOf.set(key, name);
        for (const at of memberAts) {
          addMembers(key, name, v[at]);
          const next = more[at];
          if (next !== undefined) partial.push({ dn, key, name, attribute: slots.distinct[at]!, next });
        }
      });
      for (const group of partial) await readRest(socket, group.dn, group.attribute, group.next, (values) => addMembers(group.key, group.name, values));
      groupsRead = true;
      if (waiting.length) slicing = setImmediate(nextSlice);
    };
    // memberOf holds the same few group DNs for many users: each is looked up once. A group the
    // group search did not find (outside groupSearchBase or groupFilter) is not one of the source's: null.
    const nameOf = new Map<string, string | null>();
    const groupName = (g: string) => {
      let name = nameOf.get(g);
      if (name === undefined) nameOf.set(g, (name = groupOf.get(dnKey(g)) ?? null));
      return name;
    };
    /** A user's groups, from its memberOf and the groups' member attributes; only once every group is read. */
    const groupsOf = (dn: string, memberOf: Values, posixUid: Values): string[] => {
      const direct = membersOf.size ? membersOf.get(dnKey(dn)) : undefined;
      const byUid = membersByUid.size ? list(posixUid).flatMap((uid) => membersByUid.get(caseIgnore(uid)) ?? []) : NO_GROUPS;
      if (memberOf === undefined && !direct && !byUid.length) return NO_GROUPS;
      if (typeof memberOf === 'string' && !byUid.length) {
        const name = groupName(memberOf);
        if (!direct) return name === null ? NO_GROUPS : [name];
        if (direct.length === 1 && (name === null || direct[0] === name)) return direct; // the same group both ways: this user's own list
      }
      const names = new Set<string>();
      for (const g of list(memberOf)) {
        const name = groupName(g);
        if (name !== null) names.add(name);
      }
      for (const n of direct ?? []) names.add(n);
      for (const n of byUid) names.add(n);
      return names.size ? [...names].sort() : NO_GROUPS;
    };
    // The names of the groups above a group (its containers', theirs, ...), each group walked once.
    const above = new Map<string, string[]>();
    const ancestors = (groupKey: string): string[] => {
      let names = above.get(groupKey);
      if (names) return names;
      const seen = new Set<string>([groupKey]);
      const queue = [...(containers.get(groupKey) ?? [])];
      names = [];
      while (queue.length) {
        const k = queue.pop()!;
        if (seen.has(k)) continue; // a cycle of groups ends where it started
        seen.add(k);
        names.push(groupOf.get(k)!);
        for (const up of containers.get(k) ?? []) queue.push(up);
      }
      above.set(groupKey, names);
      return names;
    };
    /** With nestedGroups, a user's direct groups and every group above them. */
    const allGroupsOf = (dn: string, memberOf: Values, posixUid: Values): string[] => {
      const direct = groupsOf(dn, memberOf, posixUid);
      if (!nested) return direct;
      const keys = [...list(memberOf).map(dnKey), ...(containers.get(dnKey(dn)) ?? []), ...list(posixUid).flatMap((uid) => containersByUid.get(caseIgnore(uid)) ?? [])];
      const names = new Set(direct);
      for (const k of keys) for (const n of ancestors(k)) names.add(n);
      return names.size === direct.length ? direct : [...names].sort();
    };
    const users: DirectoryEntry[] = [];
    const skipped: DirectoryRead['skipped'] = { noId: { count: 0, first: [] }, sameId: { count: 0, first: [] } };
    const skip = (why: Skipped, dn: string) => {
      if (why.first.length < SKIPPED_SHOWN) why.first.push(dn);
      why.count++;
    };
    // Two entries with one id would be one user, each round the other: the first read keeps it.
    const ids = new Set<string>();
    const emit = onUser ?? ((user: DirectoryEntry) => void users.push(user));
    let count = 0;
    // Users read before the last group (and after them, until they are out) wait for their groups
    // here, with their DN, memberOf and uid.
    let waiting: { user: DirectoryEntry; dn: string; memberOf: Values; posixUid: Values }[] = [];
    let waited = 0;
    let slicing: NodeJS.Immediate | undefined;
    const release = (limit: number) => {
      const end = Math.min(waiting.length, waited + limit);
      for (; waited < end; waited++) {
        const e = waiting[waited]!;
        e.user.groups = allGroupsOf(e.dn, e.memberOf, e.posixUid);
        emit(e.user);
      }
      if (waited === waiting.length) (waiting = []), (waited = 0);
    };
    const nextSlice = () => {
      slicing = undefined;
      release(SLICE);
      if (waiting.length) slicing = setImmediate(nextSlice);
    };
    /** A user whose memberOf is all in: out now if every group is read (and no user waits before it), else it waits. */
    const deliver = (user: DirectoryEntry, dn: string, memberOf: Values, posixUid: Values) => {
      if (groupsRead && !waiting.length) {
        user.groups = allGroupsOf(dn, memberOf, posixUid);
        emit(user);
      } else waiting.push({ user, dn, memberOf, posixUid });
    };
    const readUsers = async () => {
      const socket = await open();
      const mapped = [m.uid, m.userPrincipalName, m.email, m.displayName, m.firstName, m.lastName, m.memberOf, POSIX_UID];
      const slots = attributeSlots([...mapped, ...custom.map((a) => a.attribute ?? a.name)]);
      const [uidAt, upnAt, emailAt, displayNameAt, firstNameAt, lastNameAt, memberOfAt, posixUidAt] = mapped.map(slots.at) as [number, number, number, number, number, number, number, number];
      const customAt = custom.map((a) => [a.name, slots.at(a.attribute ?? a.name)] as const);
      const guid = m.uid.toLowerCase() === OBJECT_GUID;
      // Users in more groups than AD sends memberOf values at once (memberOf;range=0-1499): their groups are read on after the search.
      const partial: { user: DirectoryEntry; dn: string; memberOf: string[]; posixUid: Values; next: number }[] = [];
      await searchAll(
        socket,
        search(spec.userFilter, spec.userSearchBase, slots.distinct),
        (dn, v, more) => {
          const read = first(v[uidAt]);
          const uid = read && guid ? guidString(read) : read;
          // An entry without the id attribute cannot be followed from one sync to the next: skipped, and said.
          if (!uid) return skip(skipped.noId, dn);
          const idKey = caseIgnore(uid); // "JDoe" and "jdoe" are one value to the directory
          if (ids.has(idKey)) return skip(skipped.sameId, dn);
          ids.add(idKey);
          const attributes: Record<string, string | string[]> = {};
          for (const [name, at] of customAt) {
            const x = v[at];
            if (x !== undefined) attributes[name] = x;
          }
          const user: DirectoryEntry = {
            uid,
            upn: first(v[upnAt]),
            email: first(v[emailAt]),
            displayName: first(v[displayNameAt]),
            firstName: first(v[firstNameAt]),
            lastName: first(v[lastNameAt]),
            groups: NO_GROUPS,
            attributes,
          };
          count++;
          const next = more[memberOfAt];
          if (next === undefined) deliver(user, dn, v[memberOfAt], v[posixUidAt]);
          else partial.push({ user, dn, memberOf: [...list(v[memberOfAt])], posixUid: v[posixUidAt], next });
        },
        () => progress?.(count),
      );
      for (const p of partial) {
        await readRest(socket, p.dn, slots.distinct[memberOfAt]!, p.next, (values) => void p.memberOf.push(...list(values)));
        deliver(p.user, p.dn, p.memberOf, p.posixUid);
      }
    };
    // Both settle before the connections close, so a failed one cannot leave the other open.
    const failed = (await Promise.allSettled([readGroups(), readUsers()])).find((r) => r.status === 'rejected');
    clearImmediate(slicing);
    if (failed) throw failed.reason;
    release(Infinity);
    return { users, groupCount: groupOf.size, skipped, notFollowed: [...notFollowed] };
  } finally {
    for (const s of sockets) endSearches(s);
  }
}
