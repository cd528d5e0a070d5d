// Reading users and groups from an LDAP directory with ldapts: simple bind over ldap:// (with
// StartTLS) or ldaps://, paged searches (RFC 2696), attribute mapping and group membership from
// both memberOf and the groups' member attribute.
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

const values = (v: Entry[string] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
const first = (v: Entry[string] | undefined) => values(v)[0] || undefined;
const normalDn = (dn: string) => dn.replace(/\s*,\s*/g, ',').toLowerCase();

export async function readLdapDirectory(spec: LdapReadSpec, password: string, caPem?: string): Promise<DirectoryRead> {
  const tlsOptions = { ...(caPem ? { ca: caPem } : {}), ...(spec.tls?.serverName ? { servername: spec.tls.serverName } : {}) };
  // ldapts speaks TLS from the first byte whenever it is given tlsOptions: only for ldaps://.
  const ldaps = /^ldaps:/i.test(spec.url);
  const client = new Client({ url: spec.url, timeout: TIMEOUT_MS, connectTimeout: TIMEOUT_MS, ...(ldaps ? { tlsOptions } : {}) });
  const m = spec.attributeMapping;
  try {
    if (spec.startTls) await client.startTLS(tlsOptions);
    await client.bind(spec.bindDn, password);
    const custom = spec.customAttributes ?? [];
    const userAttributes = [m.uid, m.userPrincipalName, m.email, m.displayName, m.memberOf, ...custom.map((a) => a.attribute ?? a.name)];
    const { searchEntries: groupEntries } = await client.search(spec.groupSearchBase ?? spec.baseDn, {
      scope: 'sub',
      filter: spec.groupFilter,
      attributes: [m.groupName, m.groupMember],
      paged: { pageSize: spec.pageSize },
    });
    const groupOf = new Map<string, string>();
    const membersOf = new Map<string, string[]>();
    for (const g of groupEntries) {
      const name = first(g[m.groupName]) ?? g.dn;
      groupOf.set(normalDn(g.dn), name);
      for (const member of values(g[m.groupMember])) membersOf.set(normalDn(member), [...(membersOf.get(normalDn(member)) ?? []), name]);
    }
    const users: DirectoryEntry[] = [];
    const { searchEntries } = await client.search(spec.userSearchBase ?? spec.baseDn, {
      scope: 'sub',
      filter: spec.userFilter,
      attributes: userAttributes,
      paged: { pageSize: spec.pageSize },
    });
    for (const e of searchEntries) {
      const uid = first(e[m.uid]);
      if (!uid) continue; // an entry without the id attribute cannot be followed from one sync to the next
      const groups = new Set([...values(e[m.memberOf]).map((dn) => groupOf.get(normalDn(dn)) ?? dn), ...(membersOf.get(normalDn(e.dn)) ?? [])]);
      const attributes: Record<string, string | string[]> = {};
      for (const a of custom) {
        const v = values(e[a.attribute ?? a.name]);
        if (v.length) attributes[a.name] = v.length === 1 ? v[0]! : v;
      }
      users.push({ uid, upn: first(e[m.userPrincipalName]), email: first(e[m.email]), displayName: first(e[m.displayName]), groups: [...groups].sort(), attributes });
    }
    return { users, groupCount: groupEntries.length };
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
