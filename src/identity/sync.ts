// One sync round of an identity source into the tenant store's users: what to add, change and
// remove, and whether it is safe to. Pure.
import type { DirectoryUser, Write } from '../store/types.js';

/** Above either, a round that deletes users stops until an administrator confirms (as Entra Connect's accidental-delete prevention). */
export const DELETE_GUARD = { count: 500, fraction: 0.1 };

export interface SyncRound {
  writes: Write[];
  added: number;
  updated: number;
  removed: number;
  /** Why nothing was written, when the round looks like an accident. */
  blocked?: string;
}

export function syncRound(source: string, existing: DirectoryUser[], incoming: DirectoryUser[], allowMassDelete = false): SyncRound {
  const mine = existing.filter((u) => u.source === source);
  const before = new Map(mine.map((u) => [u.id, u]));
  const seen = new Set(incoming.map((u) => u.id));
  const gone = mine.filter((u) => !seen.has(u.id));
  if (!incoming.length && mine.length) {
    return { writes: [], added: 0, updated: 0, removed: 0, blocked: `the source returned no users (the ${mine.length} synced before are kept): check its search base and filter` };
  }
  if (!allowMassDelete && gone.length && (gone.length > DELETE_GUARD.count || gone.length > mine.length * DELETE_GUARD.fraction)) {
    return {
      writes: [],
      added: 0,
      updated: 0,
      removed: 0,
      blocked: `this round would delete ${gone.length} of ${mine.length} users (more than ${DELETE_GUARD.count}, or more than ${DELETE_GUARD.fraction * 100}%): nothing was changed; if it is meant, run mdmops sync with --allow-mass-delete`,
    };
  }
  const writes: Write[] = [];
  let added = 0;
  let updated = 0;
  for (const u of incoming) {
    const old = before.get(u.id);
    if (!old) added++;
    else if (!sameUser(old, u)) updated++;
    else continue;
    writes.push({ op: 'putUser', user: u });
  }
  for (const u of gone) writes.push({ op: 'deleteUser', tenant: u.tenant, id: u.id });
  return { writes, added, updated, removed: gone.length };
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function sameRecord(a: Record<string, string | string[]>, b: Record<string, string | string[]>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => {
    const x = a[k];
    const y = b[k];
    return Array.isArray(x) ? Array.isArray(y) && sameList(x, y) : x === y;
  });
}

/** Field by field: a sync compares every user of a directory, and this runs often. */
export function sameUser(a: DirectoryUser, b: DirectoryUser): boolean {
  return a.upn === b.upn && a.email === b.email && a.displayName === b.displayName && a.appleId === b.appleId && a.source === b.source &&
    sameList(a.groups, b.groups) && sameRecord(a.attributes, b.attributes) && sameRecord(a.labels, b.labels);
}
