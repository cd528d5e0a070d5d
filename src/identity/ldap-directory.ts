// Reading users and groups from an LDAP directory with ldapts: simple bind over ldap:// (with
// StartTLS) or ldaps://, paged searches (RFC 2696) read page by page, attribute mapping and group
// membership from both memberOf and the groups' member attribute.
import { Client, type Entry } from 'ldapts';

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
  attributeMapping: { uid: string; userPrincipalName: string; email: string; displayName: string; memberOf: string; groupName: string; groupMember: string };
  customAttributes?: { name: string; attribute?: string }[];
  pageSize: number;
}

export interface DirectoryEntry {
  uid: string;
  upn?: string;
  email?: string;
  displayName?: string;
  groups: string[];
  attributes: Record<string, string | string[]>;
}

export interface DirectoryRead {
  users: DirectoryEntry[];
  groupCount: number;
}

const TIMEOUT_MS = 30_000;

// Active Directory's ids are binary: read as bytes and written as hex, never decoded as (lossy) UTF-8.
const BINARY = ['objectGUID', 'objectSid'];
const text = (x: string | Buffer) => (typeof x === 'string' ? x : x.toString('hex'));
const values = (v: Entry[string] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(text) : [text(v)]);
// Without an array: called for every attribute of every user.
function first(v: Entry[string] | undefined): string | undefined {
  const x = Array.isArray(v) ? v[0] : v;
  return x === undefined ? undefined : text(x) || undefined;
}
/**
 * LDAP attribute names are case-insensitive, and a server answers with its own spelling ("mail" for
 * "Mail"): the entry's spelling of each requested name is found once, then read directly.
 */
function attributeReader(): (e: Entry, name: string) => Entry[string] | undefined {
  const spelling = new Map<string, string>();
  return (e, name) => {
    const known = spelling.get(name);
    if (known !== undefined && known in e) return e[known];
    const lower = name.toLowerCase();
    const key = Object.keys(e).find((k) => k.toLowerCase() === lower);
    if (key !== undefined) spelling.set(name, key);
    return key === undefined ? undefined : e[key];
  };
}

// Directories write DNs without spaces around commas: the regex only runs when one has them.
const SPACED = /\s,|,\s/;
const normalDn = (dn: string) => (SPACED.test(dn) ? dn.replace(/\s*,\s*/g, ',') : dn).toLowerCase();

/** A bound connection: ldap:// (with StartTLS when asked) or ldaps://. */
async function connect(spec: LdapReadSpec, password: string, caPem?: string): Promise<Client> {
  const tlsOptions = { ...(caPem ? { ca: caPem } : {}), ...(spec.tls?.serverName ? { servername: spec.tls.serverName } : {}) };
  // ldapts speaks TLS from the first byte whenever it is given tlsOptions: only for ldaps://.
  const ldaps = /^ldaps:/i.test(spec.url);
  const client = new Client({ url: spec.url, timeout: TIMEOUT_MS, connectTimeout: TIMEOUT_MS, ...(ldaps ? { tlsOptions } : {}) });
  try {
    if (spec.startTls) await client.startTLS(tlsOptions);
    await client.bind(spec.bindDn, password);
    return client;
  } catch (e) {
    await client.unbind().catch(() => undefined);
    throw e;
  }
}

export async function readLdapDirectory(spec: LdapReadSpec, password: string, caPem?: string, progress?: (users: number) => void): Promise<DirectoryRead> {
  const m = spec.attributeMapping;
  const custom = spec.customAttributes ?? [];
  // Groups and users are read at once, on a connection each: OpenLDAP keeps one paged search per
  // connection, and a second one interleaved on it gets "paged results cookie is invalid".
  const clients: Client[] = [];
  const open = async () => {
    const c = await connect(spec, password, caPem);
    clients.push(c);
    return c;
  };
  try {
    const groupOf = new Map<string, string>();
    const membersOf = new Map<string, string[]>();
    const readGroups = async () => {
      const client = await open();
      const attr = attributeReader();
      for await (const page of client.searchPaginated(spec.groupSearchBase ?? spec.baseDn, {
        scope: 'sub',
        filter: spec.groupFilter,
        attributes: [m.groupName, m.groupMember],
        paged: { pageSize: spec.pageSize },
      })) {
        for (const g of page.searchEntries) {
          const name = first(attr(g, m.groupName)) ?? g.dn;
          groupOf.set(normalDn(g.dn), name);
          for (const member of values(attr(g, m.groupMember))) {
            const key = normalDn(member);
            const list = membersOf.get(key);
            if (list) list.push(name);
            else membersOf.set(key, [name]);
          }
        }
      }
    };
    // Each user's DN and memberOf, beside it until its groups are known: a directory of 100,000
    // users is held once, not copied.
    const users: DirectoryEntry[] = [];
    const dns: string[] = [];
    const memberOfs: string[][] = [];
    const readUsers = async () => {
      const client = await open();
      const attr = attributeReader();
      const userAttributes = [m.uid, m.userPrincipalName, m.email, m.displayName, m.memberOf, ...custom.map((a) => a.attribute ?? a.name)];
      for await (const page of client.searchPaginated(spec.userSearchBase ?? spec.baseDn, {
        scope: 'sub',
        filter: spec.userFilter,
        attributes: userAttributes,
        explicitBufferAttributes: BINARY.filter((a) => userAttributes.some((u) => u.toLowerCase() === a.toLowerCase())),
        paged: { pageSize: spec.pageSize },
      })) {
        for (const e of page.searchEntries) {
          const uid = first(attr(e, m.uid));
          if (!uid) continue; // an entry without the id attribute cannot be followed from one sync to the next
          const attributes: Record<string, string | string[]> = {};
          for (const a of custom) {
            const v = values(attr(e, a.attribute ?? a.name));
            if (v.length) attributes[a.name] = v.length === 1 ? v[0]! : v;
          }
          users.push({ uid, upn: first(attr(e, m.userPrincipalName)), email: first(attr(e, m.email)), displayName: first(attr(e, m.displayName)), groups: [], attributes });
          dns.push(e.dn);
          memberOfs.push(values(attr(e, m.memberOf)));
        }
        progress?.(users.length);
      }
    };
    // Both settle before the connections close, so a failed one cannot leave the other open.
    const failed = (await Promise.allSettled([readGroups(), readUsers()])).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    users.forEach((u, i) => {
      const memberOf = memberOfs[i]!;
      const direct = membersOf.get(normalDn(dns[i]!));
      if (memberOf.length || direct) u.groups = [...new Set([...memberOf.map((g) => groupOf.get(normalDn(g)) ?? g), ...(direct ?? [])])].sort();
    });
    return { users, groupCount: groupOf.size };
  } finally {
    await Promise.all(clients.map((c) => c.unbind().catch(() => undefined)));
  }
}
