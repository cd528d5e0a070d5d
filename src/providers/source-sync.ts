// One sync round of an identity source, whatever the source: read it, decide with
// sync-round.ts what changes, build managed Apple IDs, queue invitations, and say how it went in
// status and notifications. A source that cannot be read, fails mid-read or answers with nothing
// never deletes users; nor does a round that would delete more than the guard allows.
import { blobAad } from '../engine/context.js';
import { parseDuration } from '../api/duration.js';
import type { ProviderContext, SyncOptions, SyncReport } from '../engine/provider.js';
import { describeLacking } from '../identity/attributes.js';
import { RoundBuilder } from './sync-round.js';
import type { Severity, StoredRecord, Write } from '../store/types.js';
import type { DirectoryUser, EntraIdSource } from '../api/index.js';
import type { SpecOf, WithSpec } from './record.js';
import { messageOf } from '../util/message-of.js';

export interface SourceRead {
  groupCount: number;
  /** What the next round starts from (delta links), sealed; kept only when this round is applied. */
  state?: Buffer;
  /** What the source holds that could not be synced as users, and why (`*UsersSkipped`). */
  skipped?: string;
  /** Where the source referred the round and it did not go (LDAP referrals to other servers: `*ReferralsNotFollowed`). */
  notFollowed?: string;
  /** Why this round read everything when it was to read changes only (`*Resync`). */
  resync?: string;
}

/**
 * Why a read failed, as a reader may say it on the error it throws (`reason`): the notification
 * is `${prefix}${reason}`. Unsaid, the source is taken as unreachable.
 */
export type ReadFailure = 'Unreachable' | 'AuthFailed' | 'PermissionMissing';
const failureOf = (e: unknown): ReadFailure => (e as { reason?: ReadFailure }).reason ?? 'Unreachable';

/** What a reader is given to hand its users to the round. */
export interface RoundInput {
  /** Users read so far, for progress. */
  progress(read: number): void;
  /** A user as of this round, once, as soon as it is complete: the round's work on a user is done while the rest are read. */
  accept(user: DirectoryUser): void;
  /**
   * Resolves once the stored users are listed to compare with: a reader about to hand over users
   * faster than a directory answers (from the store) waits for it, else each is held until then.
   */
  storedListed: Promise<void>;
  /** Forgets every user accepted so far: the reader hands them all again (one it handed has changed). */
  restart(): Promise<void>;
}

export interface SourceReader {
  /** Reason prefix of this source's notifications: Ldap, Entra. */
  prefix: string;
  /** Where it reads from, for messages. */
  where: string;
  /** Reads every user of the source as of this round into `round`. */
  read(previousState: Buffer | undefined, round: RoundInput): Promise<SourceRead>;
}

export const SYNC_STATE = 'sync-state';

const notice = (r: StoredRecord, reason: string, severity: Severity, message: string, at: string): Write => ({
  op: 'notify',
  notification: { tenant: r.tenant, kind: r.kind, name: r.name, reason, severity, message, lastSeen: at },
});

/** What the shared round reads of an identity source's spec (Entra ID has them all; LDAP some). */
type SourceSpec = Partial<Pick<SpecOf<typeof EntraIdSource>, 'customAttributes' | 'managedAppleIds' | 'autoInviteUsers' | 'deletionThreshold' | 'enabled' | 'suspend' | 'syncInterval'>>;

export async function runSourceSync(ctx: ProviderContext, record: WithSpec<StoredRecord, SourceSpec>, reader: SourceReader, options: SyncOptions): Promise<SyncReport> {
  const id = { tenant: record.tenant, kind: record.kind, name: record.name };
  const source = `${record.kind}/${record.name}`;
  const spec = record.spec;
  const started = Date.now();
  const sealedState = await ctx.store.getBlob(id, SYNC_STATE);
  const previousState = sealedState && ctx.key.open(sealedState, blobAad(id, SYNC_STATE));
  const at = (options.now ?? new Date()).toISOString();
  const problems = new Map<string, { severity: Severity; message: string }>();
  const lastCount = typeof record.status.userCount === 'number' ? record.status.userCount : 0;
  const report: SyncReport = { userCount: lastCount, added: 0, updated: 0, removed: 0, warnings: [] };
  const writes: Write[] = [];
  let groupCount: number | undefined;
  const names = (spec.customAttributes ?? []).map((a) => a.name);
  // Users to put are staged as they are found (no lock on the tenant's tables meanwhile), and moved
  // into users by the commit that ends the round; a round that fails or stops drops them.
  let stage = await ctx.store.stageUsers?.();
  const newRound = () => new RoundBuilder(record.tenant, { appleIds: spec.managedAppleIds ?? { mode: 'None', includeAppleIdSubdomain: false }, attributes: names, stage, newUsers: spec.autoInviteUsers });
  let round = newRound();
  // The stored users are listed while the source is read (a few thousand at a time), and each user
  // read is compared as soon as both are in: Node mostly waits on the directory during a read.
  let stored: Map<string, string> | undefined;
  const listing = ctx.store.listUserDigests(record.tenant, source).then((s) => round.compareWith((stored = s)));
  listing.catch(() => undefined); // awaited below; a read that fails first must not leave it unhandled
  // The new stage first, then round and stage swapped at once: the listing may end meanwhile, and
  // compares with whichever round is current.
  const restart = async () => {
    const next = await ctx.store.stageUsers?.();
    const old = stage;
    stage = next;
    round = newRound();
    if (stored) round.compareWith(stored);
    await old?.close();
  };

  try {
    const read = await reader.read(previousState, { progress: (n) => options.progress?.(n, lastCount || undefined), accept: (u) => round.add(u), storedListed: listing, restart });
    groupCount = read.groupCount;
    await listing;
    const built = round.finish(options.allowMassDelete, spec.deletionThreshold);
    report.userCount = built.storedCount;
    if (read.resync) problems.set(`${reader.prefix}Resync`, { severity: 'Info', message: read.resync });
    if (built.blocked) {
      report.blocked = built.blocked;
      problems.set(`${reader.prefix}DeletionBlocked`, { severity: 'Warning', message: built.blocked });
    } else {
      Object.assign(report, { added: built.added, updated: built.updated, removed: built.removed, userCount: built.userCount });
      for (const w of built.writes) writes.push(w); // not push(...): 100,000s of arguments overflow the stack
      if (read.state) writes.push({ op: 'putBlob', id, purpose: SYNC_STATE, sealed: ctx.key.seal(read.state, blobAad(id, SYNC_STATE)) });
      // Newly imported users with an e-mail address are invited; the store keeps one invitation per user, ever.
      if (spec.autoInviteUsers) for (const u of built.newUsers) if (u.email) writes.push({ op: 'invite', invitation: { tenant: u.tenant, userId: u.id, source, email: u.email, queuedAt: at } });
      const coverage = built.coverage;
      if (coverage.none) {
        problems.set(`${reader.prefix}NoAttributesSynced`, { severity: 'Warning', message: `no user has any of the custom attributes ${names.join(', ')}: check that ${reader.where} exposes them to mdmops` });
      } else if (coverage.lacking.length) {
        problems.set(`${reader.prefix}SomeAttributesNotSynced`, { severity: 'Warning', message: `some users lack custom attributes: ${describeLacking(coverage.lacking, built.userCount)}; they get no value where \${name} is used` });
      }
      if (read.skipped) problems.set(`${reader.prefix}UsersSkipped`, { severity: 'Warning', message: read.skipped });
      if (read.notFollowed) problems.set(`${reader.prefix}ReferralsNotFollowed`, { severity: 'Warning', message: read.notFollowed });
      const apple = built.appleIds;
      if (apple.collisions.length || apple.missing.length) {
        const parts = [
          ...apple.collisions.slice(0, 5).map((c) => `${c.appleId} would belong to ${c.users.join(' and ')}`),
          ...(apple.missing.length ? [`${apple.missing.length} users have no ${spec.managedAppleIds?.schema === 'UserUPN' ? 'UPN' : 'e-mail address'} to build one from (${apple.missing.slice(0, 3).join(', ')}${apple.missing.length > 3 ? ', ...' : ''})`] : []),
        ];
        problems.set('ManagedAppleIdsIncomplete', { severity: 'Warning', message: `${apple.collisions.length} managed Apple ID collisions left unassigned${apple.collisions.length > 5 ? ' (first 5 shown)' : ''}: ${parts.join('; ')}` });
      }
      report.warnings.push(...[...problems.values()].map((p) => p.message));
      writes.push({ op: 'audit', entry: { at, ...id, action: 'sync', source: 'sync', revision: '-', actor: options.actor, detail: { added: built.added, updated: built.updated, removed: built.removed } } });
    }
  } catch (e) {
    report.error = `${reader.where}: ${messageOf(e)}`;
    problems.set(`${reader.prefix}${failureOf(e)}`, { severity: failureOf(e) === 'Unreachable' ? 'Warning' : 'Error', message: report.error });
    await listing.catch(() => undefined); // the read's error is the one to report
  }

  // The status as it is now: while the round read, its Ready may have changed (its connector's agent went).
  const { lastError: _e, ...kept } = (await ctx.store.getRecord(id))?.status ?? record.status;
  const lastError = report.error ?? report.blocked;
  const durationMs = Date.now() - started;
  const status = { ...kept, lastSyncTime: at, lastSyncDuration: `${durationMs}ms`, userCount: report.userCount, ...(groupCount === undefined ? {} : { groupCount }), ...(lastError ? { lastError } : {}) };
  writes.push({ op: 'putStatus', id, status, updatedAt: at });
  writes.push({ op: 'recordSync', id, sync: { at, durationMs, userCount: report.userCount, outcome: report.error ? 'failed' : report.blocked ? 'blocked' : 'synced' } });
  // A round not applied says nothing about attributes or Apple IDs: those notifications stay as they were.
  const judged = SYNC_REASONS.slice(0, report.error ? 3 : report.blocked ? 5 : undefined).map((r) => r.replace('*', reader.prefix));
  for (const reason of judged) {
    const p = problems.get(reason);
    writes.push(p ? notice(record, reason, p.severity, p.message, at) : { op: 'resolveNotification', id, reason });
  }
  try {
    await ctx.store.commit(writes);
  } finally {
    await stage?.close();
  }
  return report;
}

/** Notification reasons a sync round raises or clears, those a failed or blocked round judges first; * is the source's prefix. */
export const SYNC_REASONS = ['*Unreachable', '*AuthFailed', '*PermissionMissing', '*DeletionBlocked', '*Resync', '*NoAttributesSynced', '*SomeAttributesNotSynced', 'ManagedAppleIdsIncomplete', '*UsersSkipped', '*ReferralsNotFollowed'];

/** When a record is next due, or undefined when it is not synced on a schedule. Pure. */
export function nextSyncAt(record: WithSpec<StoredRecord, SourceSpec>): number | undefined {
  const spec = record.spec;
  if (!record.managed || spec.enabled === false || spec.suspend === true || !spec.syncInterval) return undefined;
  const last = Date.parse(String(record.status.lastSyncTime ?? ''));
  return Number.isNaN(last) ? 0 : last + parseDuration(spec.syncInterval);
}
