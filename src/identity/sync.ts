// One sync round of an identity source into the tenant store's users: what to add, change and
// remove, and whether it is safe to. Pure.
import { userDigest } from '../store/user-digest.js';
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

/** `stored`: the source's users in the store, by id, with their digests (Store.listUserDigests). */
export function syncRound(tenant: string, stored: Map<string, string>, incoming: DirectoryUser[], allowMassDelete = false): SyncRound {
  if (!incoming.length && stored.size) {
    return { writes: [], added: 0, updated: 0, removed: 0, blocked: `the source returned no users (the ${stored.size} synced before are kept): check its search base and filter` };
  }
  // A first round (nothing stored) has nothing to remove: the ids are not gathered for it.
  const seen = stored.size ? new Set(incoming.map((u) => u.id)) : undefined;
  const gone = seen ? [...stored.keys()].filter((id) => !seen.has(id)) : [];
  if (!allowMassDelete && gone.length && (gone.length > DELETE_GUARD.count || gone.length > stored.size * DELETE_GUARD.fraction)) {
    return {
      writes: [],
      added: 0,
      updated: 0,
      removed: 0,
      blocked: `this round would delete ${gone.length} of ${stored.size} users (more than ${DELETE_GUARD.count}, or more than ${DELETE_GUARD.fraction * 100}%): nothing was changed; if it is meant, run mdmops sync with --allow-mass-delete`,
    };
  }
  const writes: Write[] = [];
  let added = 0;
  let updated = 0;
  for (const u of incoming) {
    const old = stored.get(u.id);
    if (old === undefined) added++;
    else if (old !== userDigest(u)) updated++;
    else continue;
    writes.push({ op: 'putUser', user: u });
  }
  for (const id of gone) writes.push({ op: 'deleteUser', tenant, id });
  return { writes, added, updated, removed: gone.length };
}
