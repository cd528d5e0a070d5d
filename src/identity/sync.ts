// One sync round of an identity source into the tenant store's users: what to add, change and
// remove, and whether it is safe to. Pure: no I/O.
//
// A round is built user by user as the source is read (RoundBuilder): each user's stored form (its
// columns) is computed when it arrives, its Apple ID assigned, and, once the stored digests are in
// (listed while the source is read), compared with what is stored. What is left when the read ends
// is only what needs every user: Apple ID collisions, removals and the mass-delete guard.
import { AppleIdAssigner, type AppleIdResult, type AppleIdSettings } from './apple-id.js';
import type { AttributeCoverage } from './attributes.js';
import { digestMatches, userColumns } from '../store/user-digest.js';
import type { DirectoryUser, UserStage, Write } from '../store/types.js';

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

export interface BuiltRound extends SyncRound {
  /** Every user the source gave, in the order it gave them (with its Apple ID, if any). */
  users: DirectoryUser[];
  /** How many users of this source the store held. */
  storedCount: number;
  /** Users new to the store (for invitations), in the order the source gave them. */
  newUsers: DirectoryUser[];
  appleIds: Omit<AppleIdResult, 'users'>;
  coverage: AttributeCoverage;
}

// What the comparison made of each user.
const PENDING = 0;
const SAME = 1;
const ADDED = 2;
const UPDATED = 3;

export interface RoundOptions {
  /** Builds managed Apple IDs; without it, users keep the appleId they come with. */
  appleIds?: AppleIdSettings;
  /** Custom attribute names whose coverage is counted. */
  attributes?: string[];
  /**
   * Where the users to put go as soon as they are found new or changed (Store.stageUsers); the
   * round then puts them with one putStagedUsers. Without it, each is a putUser.
   */
  stage?: UserStage;
}

export class RoundBuilder {
  readonly users: DirectoryUser[] = [];
  /** Each user's stored columns, until it is found unchanged. */
  private readonly columns: ((string | null)[] | undefined)[] = [];
  private readonly verdicts: number[] = [];
  private stored?: Map<string, string>;
  /** The stored ids the source gave again (not gathered on a first round: nothing to remove). */
  private seen?: Set<string>;
  private compared = 0;
  private readonly apple?: AppleIdAssigner;
  private readonly names: string[];
  private readonly have: number[];
  private readonly stage?: UserStage;

  constructor(
    private readonly tenant: string,
    options: RoundOptions = {},
  ) {
    if (options.appleIds) this.apple = new AppleIdAssigner(options.appleIds);
    this.stage = options.stage;
    this.names = options.attributes ?? [];
    this.have = this.names.map(() => 0);
  }

  /** One user of the source, as it is read. */
  add(u: DirectoryUser): void {
    this.apple?.add(u);
    for (let k = 0; k < this.names.length; k++) if (u.attributes[this.names[k]!] !== undefined) this.have[k]!++;
    this.users.push(u);
    this.columns.push(userColumns(u));
    this.verdicts.push(PENDING);
    if (this.stored) this.compareUpTo(this.users.length);
  }

  /** The source's users in the store, by id, with their digests (Store.listUserDigests): before, during or after the adds. */
  compareWith(stored: Map<string, string>): void {
    this.stored = stored;
    if (stored.size) this.seen = new Set();
    this.compareUpTo(this.users.length);
  }

  private compareUpTo(end: number) {
    for (let i = this.compared; i < end; i++) this.compare(i);
    this.compared = end;
  }

  private compare(i: number) {
    const u = this.users[i]!;
    const old = this.stored!.get(u.id);
    const columns = this.columns[i] ?? userColumns(u);
    if (old === undefined) this.verdicts[i] = ADDED;
    else {
      this.seen!.add(u.id);
      this.verdicts[i] = digestMatches(old, columns) ? SAME : UPDATED;
    }
    // An unchanged user's columns are not written, and a staged user's are written: neither is kept.
    if (this.verdicts[i] === SAME || !this.stage) this.columns[i] = this.verdicts[i] === SAME ? undefined : columns;
    else {
      this.stage.put(u, columns);
      this.columns[i] = undefined;
    }
  }

  /** The round, once every user is in and compared. */
  finish(allowMassDelete = false): BuiltRound {
    const stored = this.stored;
    if (!stored) throw new Error('a sync round was finished before the stored users were compared');
    const users = this.users;
    const appleIds = this.apple?.finish() ?? { collisions: [], missing: [], taken: [] };
    if (appleIds.taken.length) {
      // Users that turned out to share an Apple ID keep none: compared again without it.
      const at = new Map(users.map((u, i) => [u, i]));
      for (const u of appleIds.taken) {
        const i = at.get(u)!;
        const before = this.verdicts[i];
        this.columns[i] = userColumns(u);
        this.compare(i);
        if (before !== SAME && this.verdicts[i] === SAME) this.stage?.unstage(u.tenant, u.id);
      }
    }
    const coverage: AttributeCoverage =
      !this.names.length || !users.length
        ? { none: false, lacking: [] }
        : {
            none: this.have.every((n) => n === 0),
            lacking: this.names.flatMap((name, k) => (this.have[k]! < users.length ? [{ name, users: users.length - this.have[k]! }] : [])),
          };
    const base = { users, storedCount: stored.size, newUsers: [] as DirectoryUser[], appleIds: { collisions: appleIds.collisions, missing: appleIds.missing }, coverage, writes: [] as Write[], added: 0, updated: 0, removed: 0 };
    if (!users.length && stored.size) {
      return { ...base, blocked: `the source returned no users (the ${stored.size} synced before are kept): check its search base and filter` };
    }
    const seen = this.seen;
    const gone = seen && seen.size < stored.size ? [...stored.keys()].filter((id) => !seen.has(id)) : [];
    if (!allowMassDelete && gone.length && (gone.length > DELETE_GUARD.count || gone.length > stored.size * DELETE_GUARD.fraction)) {
      return {
        ...base,
        blocked: `this round would delete ${gone.length} of ${stored.size} users (more than ${DELETE_GUARD.count}, or more than ${DELETE_GUARD.fraction * 100}%): nothing was changed; if it is meant, run mdmops sync with --allow-mass-delete`,
      };
    }
    const writes: Write[] = [];
    const newUsers: DirectoryUser[] = [];
    let added = 0;
    let updated = 0;
    for (let i = 0; i < users.length; i++) {
      const v = this.verdicts[i];
      if (v === SAME) continue;
      if (v === ADDED) {
        added++;
        newUsers.push(users[i]!);
      } else updated++;
      if (!this.stage) writes.push({ op: 'putUser', user: users[i]!, columns: this.columns[i]! });
    }
    if (this.stage && added + updated) writes.push({ op: 'putStagedUsers', stage: this.stage });
    for (const id of gone) writes.push({ op: 'deleteUser', tenant: this.tenant, id });
    return { ...base, writes, newUsers, added, updated, removed: gone.length };
  }
}

/** `stored`: the source's users in the store, by id, with their digests (Store.listUserDigests). */
export function syncRound(tenant: string, stored: Map<string, string>, incoming: DirectoryUser[], allowMassDelete = false): SyncRound {
  const round = new RoundBuilder(tenant);
  round.compareWith(stored);
  for (const u of incoming) round.add(u);
  const { writes, added, updated, removed, blocked } = round.finish(allowMassDelete);
  return blocked ? { writes, added, updated, removed, blocked } : { writes, added, updated, removed };
}
