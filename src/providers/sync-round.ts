// One sync round of an identity source into the tenant store's users: what to add, change and
// remove, and whether it is safe to. Pure: no I/O.
//
// A round is built user by user as the source is read (RoundBuilder): each user's stored form (its
// columns) is computed when it arrives, its Apple ID assigned, and, once the stored digests are in
// (listed while the source is read), compared with what is stored. What is left when the read ends
// is only what needs every user: Apple ID collisions, removals and the mass-delete guard.
import { AppleIdAssigner, type AppleIdResult, type AppleIdSettings } from '../identity/apple-id.js';
import { AttributeCounter, type AttributeCoverage } from '../identity/attributes.js';
import { digestMatches, userColumns } from '../store/user-digest.js';
import type { UserStage, Write } from '../store/types.js';
import type { DirectoryUser } from '../api/index.js';

/**
 * Above either, a round that deletes users stops until an administrator confirms (as Entra
 * Connect's accidental-delete prevention): a source's deletionThreshold, by default this one.
 */
export interface DeletionThreshold {
  users: number;
  percent: number;
}
export const DELETE_GUARD: DeletionThreshold = { users: 500, percent: 10 };

export interface SyncRound {
  writes: Write[];
  added: number;
  updated: number;
  removed: number;
  /** Why nothing was written, when the round looks like an accident. */
  blocked?: string;
}

export interface BuiltRound extends SyncRound {
  /** How many users the source gave. */
  userCount: number;
  /** How many users of this source the store held. */
  storedCount: number;
  /** Users new to the store, in the order the source gave them: only when RoundOptions.newUsers asks. */
  newUsers: DirectoryUser[];
  appleIds: AppleIdResult;
  coverage: AttributeCoverage;
}

// What the comparison made of a user.
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
  /** Gathers the users new to the store (for invitations). */
  newUsers?: boolean;
}

/**
 * A round built user by user. A user is kept only as long as something still needs it: until it is
 * compared (the stored digests may come after it), while it is to be put and there is no stage,
 * while it holds an Apple ID that a later user may claim too, and when new users are gathered. So a
 * round that stages its users holds few of them at once, and the garbage collector has little to
 * keep alive.
 */
export class RoundBuilder {
  private count = 0;
  /** Users read before the stored digests came, with their columns. */
  private waiting: [DirectoryUser, (string | null)[]][] = [];
  private stored?: Map<string, string>;
  /** The stored ids the source gave again (not gathered on a first round: nothing to remove). */
  private seen?: Set<string>;
  private added = 0;
  private updated = 0;
  /** Without a stage: the users to put, with their columns, in the order read. */
  private readonly puts = new Map<DirectoryUser, (string | null)[]>();
  /** The verdicts on users holding an Apple ID, in case a later user claims it too. */
  private readonly verdicts = new Map<DirectoryUser, number>();
  private readonly newUsers?: DirectoryUser[];
  private readonly apple?: AppleIdAssigner;
  private readonly attributes: AttributeCounter;
  private readonly stage?: UserStage;

  constructor(
    private readonly tenant: string,
    options: RoundOptions = {},
  ) {
    if (options.appleIds) this.apple = new AppleIdAssigner(options.appleIds);
    this.stage = options.stage;
    if (options.newUsers) this.newUsers = [];
    this.attributes = new AttributeCounter(options.attributes ?? []);
  }

  /** One user of the source, as it is read. */
  add(u: DirectoryUser): void {
    this.apple?.add(u);
    this.attributes.add(u);
    this.count++;
    const columns = userColumns(u);
    if (this.stored) this.judge(u, columns);
    else this.waiting.push([u, columns]);
  }

  /** The source's users in the store, by id, with their digests (Store.listUserDigests): before, during or after the adds. */
  compareWith(stored: Map<string, string>): void {
    this.stored = stored;
    if (stored.size) this.seen = new Set();
    const waiting = this.waiting;
    this.waiting = [];
    for (const [u, columns] of waiting) this.judge(u, columns);
  }

  private verdictOn(u: DirectoryUser, columns: (string | null)[]): number {
    const old = this.stored!.get(u.id);
    if (old === undefined) return ADDED;
    this.seen!.add(u.id);
    return digestMatches(old, columns) ? SAME : UPDATED;
  }

  private judge(u: DirectoryUser, columns: (string | null)[]) {
    const verdict = this.verdictOn(u, columns);
    if (this.apple && u.appleId !== undefined) this.verdicts.set(u, verdict);
    if (verdict === SAME) return;
    if (verdict === ADDED) {
      this.added++;
      this.newUsers?.push(u);
    } else this.updated++;
    this.put(u, columns);
  }

  /** To the stage, or without one to the round's own puts. */
  private put(u: DirectoryUser, columns: (string | null)[]) {
    if (this.stage) this.stage.put(u, columns);
    else this.puts.set(u, columns);
  }

  /** The round, once every user is in and compared. */
  finish(allowMassDelete = false, threshold: DeletionThreshold = DELETE_GUARD): BuiltRound {
    const stored = this.stored;
    if (!stored) throw new Error('a sync round was finished before the stored users were compared');
    const appleIds = this.apple?.finish() ?? { collisions: [], missing: [], taken: [] };
    // Users that turned out to share an Apple ID keep none: judged again without it.
    for (const u of appleIds.taken) {
      const before = this.verdicts.get(u)!;
      const columns = userColumns(u);
      const verdict = this.verdictOn(u, columns);
      if (verdict === before) {
        if (verdict !== SAME) this.put(u, columns);
        continue;
      }
      // ADDED depends on the id alone: only SAME and UPDATED trade places.
      if (verdict === SAME) {
        this.updated--;
        if (this.stage) this.stage.unstage(u.tenant, u.id);
        else this.puts.delete(u);
      } else {
        this.updated++;
        this.put(u, columns);
      }
    }
    const count = this.count;
    const coverage = this.attributes.coverage();
    const base = { userCount: count, storedCount: stored.size, newUsers: [] as DirectoryUser[], appleIds: { collisions: appleIds.collisions, missing: appleIds.missing }, coverage, writes: [] as Write[], added: 0, updated: 0, removed: 0 };
    if (!count && stored.size) {
      return { ...base, blocked: `the source returned no users (the ${stored.size} synced before are kept): check its search base and filter` };
    }
    const seen = this.seen;
    const gone = seen && seen.size < stored.size ? [...stored.keys()].filter((id) => !seen.has(id)) : [];
    if (!allowMassDelete && gone.length && (gone.length > threshold.users || gone.length * 100 > stored.size * threshold.percent)) {
      return {
        ...base,
        blocked: `this round would delete ${gone.length} of ${stored.size} users (more than ${threshold.users}, or more than ${threshold.percent}%: deletionThreshold): nothing was changed; if it is meant, run mdmops sync with --allow-mass-delete`,
      };
    }
    const writes: Write[] = [];
    for (const [user, columns] of this.puts) writes.push({ op: 'putUser', user, columns });
    if (this.stage && this.added + this.updated) writes.push({ op: 'putStagedUsers', stage: this.stage });
    for (const id of gone) writes.push({ op: 'deleteUser', tenant: this.tenant, id });
    return { ...base, writes, newUsers: this.newUsers ?? [], added: this.added, updated: this.updated, removed: gone.length };
  }
}
