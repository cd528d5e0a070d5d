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

const values = (v: Entry[string] | undefined): string[] =>
  v === undefined ? [] : (Array.isArray(v) ? v : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
const first = (v: Entry[string] | undefined) => values(v)[0] || undefined;
const normalDn = (dn: string) => dn.replace(/\s*,\s*/g, ',').toLowerCase();

export async function readLdapDirectory(spec: LdapReadSpec, password: string, caPem?: string, progress?: (users: number) => void): Promise<DirectoryRead> {
  const tlsOptions = { ...(caPem ? { ca: caPem } : {}), ...(spec.tls?.serverName ? { servername: spec.tls.serverName } : {}) };
  // ldapts speaks TLS from the first byte whenever it is given tlsOptions: only for ldaps://.
  const ldaps = /^ldaps:/i.test(spec.url);
  const client = new Client({ url: spec.url, timeout: TIMEOUT_MS, connectTimeout: TIMEOUT_MS, ...(ldaps ? { tlsOptions } : {}) });
  const m = spec.attributeMapping;
  try {
    if (spec.startTls) await client.startTLS(tlsOptions);
    await client.bind(spec.bindDn, password);
    const custom = spec.customAttributes ?? [];
    const groupOf = new Map<string, string>();
    const membersOf = new Map<string, string[]>();
    // Groups and users are read at once, on one connection (LDAP multiplexes operations by message id):
    // the directory works on both while we decode.
    const readGroups = async () => {
      for await (const page of client.searchPaginated(spec.groupSearchBase ?? spec.baseDn, {
        scope: 'sub',
        filter: spec.groupFilter,
        attributes: [m.groupName, m.groupMember],
        paged: { pageSize: spec.pageSize },
      })) {
        for (const g of page.searchEntries) {
          const name = first(g[m.groupName]) ?? g.dn;
          groupOf.set(normalDn(g.dn), name);
          for (const member of values(g[m.groupMember])) {
            const key = normalDn(member);
            const list = membersOf.get(key);
            if (list) list.push(name);
            else membersOf.set(key, [name]);
          }
        }
      }
    };
    const read: (DirectoryEntry & { dn: string; memberOf: string[] })[] = [];
    const readUsers = async () => {
      const userAttributes = [m.uid, m.userPrincipalName, m.email, m.displayName, m.memberOf, ...custom.map((a) => a.attribute ?? a.name)];
      for await (const page of client.searchPaginated(spec.userSearchBase ?? spec.baseDn, {
        scope: 'sub',
        filter: spec.userFilter,
        attributes: userAttributes,
        paged: { pageSize: spec.pageSize },
      })) {
        for (const e of page.searchEntries) {
          const uid = first(e[m.uid]);
          if (!uid) continue; // an entry without the id attribute cannot be followed from one sync to the next
          const attributes: Record<string, string | string[]> = {};
          for (const a of custom) {
            const v = values(e[a.attribute ?? a.name]);
            if (v.length) attributes[a.name] = v.length === 1 ? v[0]! : v;
          }
          read.push({ dn: e.dn, memberOf: values(e[m.memberOf]), uid, upn: first(e[m.userPrincipalName]), email: first(e[m.email]), displayName: first(e[m.displayName]), groups: [], attributes });
        }
        progress?.(read.length);
      }
    };
    await Promise.all([readGroups(), readUsers()]);
    const users = read.map(({ dn, memberOf, ...u }): DirectoryEntry => {
      const direct = membersOf.get(normalDn(dn));
      const groups = memberOf.length || direct ? [...new Set([...memberOf.map((g) => groupOf.get(normalDn(g)) ?? g), ...(direct ?? [])])].sort() : [];
      return { ...u, groups };
    });
    return { users, groupCount: groupOf.size };
  } finally {
    await client.unbind().catch(() => undefined);
  }
}
