import type { DirectoryUser } from '../api/index.js';
// What the store keeps of a directory user, as the columns it writes and as one digest string. A
// sync compares the users it reads with the stored digests (computed by SQL from the same columns)
// instead of loading every stored user: a directory of 100,000 users is held once, not twice.

/** JSON with the keys in order: a sync digests every user, so keys already in order are not re-sorted. */
function sortedJson(o: Record<string, unknown>): string {
  const keys = Object.keys(o);
  if (!keys.length) return '{}';
  for (let i = 1; i < keys.length; i++) if (keys[i - 1]! > keys[i]!) return JSON.stringify(o, keys.sort());
  return JSON.stringify(o);
}

/** The users table's columns after tenant and id, in order (those added by later migrations last). */
export const USER_COLUMNS = ['source', 'upn', 'email', 'display_name', 'groups_json', 'attributes', 'labels', 'apple_id', 'first_name', 'last_name', 'group_ids_json'] as const;

export function userColumns(u: DirectoryUser): (string | null)[] {
  return [u.source, u.upn, u.email ?? null, u.displayName ?? null, JSON.stringify(u.groups), sortedJson(u.attributes), sortedJson(u.labels), u.appleId ?? null, u.firstName ?? null, u.lastName ?? null, u.groupIds ? JSON.stringify(u.groupIds) : null];
}

/** Joins the columns with a control character no directory value holds (JSON escapes it). */
const SEPARATOR = '\u0001';
const SEPARATOR_CODE = 1;

/** The digest of columns as userColumns gives them. */
export function columnsDigest(columns: readonly (string | null)[]): string {
  let d = columns[0] ?? '';
  for (let i = 1; i < columns.length; i++) d += SEPARATOR + (columns[i] ?? '');
  return d;
}

export const userDigest = (u: DirectoryUser) => columnsDigest(userColumns(u));

/** Whether digest is columnsDigest(columns), compared in place: a sync compares 100,000 users without building their digests. */
export function digestMatches(digest: string, columns: readonly (string | null)[]): boolean {
  let at = 0;
  for (let i = 0; i < columns.length; i++) {
    if (i && digest.charCodeAt(at++) !== SEPARATOR_CODE) return false;
    const c = columns[i] ?? '';
    if (!digest.startsWith(c, at)) return false;
    at += c.length;
  }
  return at === digest.length;
}

/** The same digest in SQL (SQLite and PostgreSQL alike), with SEPARATOR bound to each `?`. */
export const USER_DIGEST_SQL = USER_COLUMNS.map((c) => `COALESCE(${c}, '')`).join(' || ? || ');
export const USER_DIGEST_PARAMS = USER_COLUMNS.slice(1).map(() => SEPARATOR);
