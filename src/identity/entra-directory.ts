// Users and groups of an Entra ID tenant through Graph delta queries. The first round (or one
// whose stored links expired or were reset) reads everything; later rounds start from the stored deltaLinks and apply what
// changed: properties present in a change replace the old values, absent ones are kept,
// `@removed` removes, and `members@delta` adds or removes members.
import { ResyncRequired, type GraphClient } from './graph.js';

export interface EntraUser {
  /** Graph object id. */
  id: string;
  upn: string;
  email?: string;
  displayName?: string;
  /** givenName and surname. */
  firstName?: string;
  lastName?: string;
  attributes: Record<string, string | string[]>;
  /** A guest (userType Guest, or a UPN with #EXT#), as far as the items read say. */
  guest?: true;
  /** accountEnabled false, as far as the items read say. */
  disabled?: true;
}

export interface EntraGroup {
  name: string;
  members: string[];
}

export interface EntraState {
  usersDeltaLink: string;
  groupsDeltaLink: string;
  /** Who the stored users are: a delta round cannot bring back users a narrower round left out. */
  include?: Inclusion;
  groups: Record<string, EntraGroup>;
}

/** What a delta round says of one user: removed, or the properties its items changed (merged). */
export type UserChange = { removed: true } | { removed: false; raw: Raw; fresh: boolean };

interface ReadBase {
  groups: Record<string, EntraGroup>;
  /** Groups by user id. */
  memberOf: Map<string, Membership>;
  state: EntraState;
  /** Why a full round replaced the delta round asked for. */
  resync?: string;
}

/**
 * A full round (the first, or one after the delta token expired) holds every user, all handed
 * already unless `repeated`: one came again, and they are all to be handed anew. A delta round
 * holds only what changed, to be applied to the users stored before (withChange).
 */
export type EntraRead = ReadBase & ({ full: true; users: EntraUser[]; repeated: boolean } | { full: false; changes: Map<string, UserChange> });

export interface CustomAttribute {
  name: string;
  /** A Graph user property, a dotted path into one (onPremisesExtensionAttributes.extensionAttribute1) or a directory extension (extension_<appId>_<name>). */
  attribute?: string;
}

type Raw = Record<string, unknown>;

// accountEnabled and userType: delta accepts no $filter but on id, so guests and disabled accounts
// are told apart here (includeGuests, includeDisabledUsers).
const BASE_PROPERTIES = ['id', 'userPrincipalName', 'mail', 'displayName', 'givenName', 'surname', 'accountEnabled', 'userType'];

export function userSelect(custom: CustomAttribute[]): string {
  const top = custom.map((a) => (a.attribute ?? a.name).split('.')[0]!);
  return [...new Set([...BASE_PROPERTIES, ...top])].join(',');
}

/** Each custom attribute's name and path into a Graph user, split once: a round merges 100,000s of users. */
interface AttributePath {
  name: string;
  path: string[];
}
const paths = new WeakMap<CustomAttribute[], AttributePath[]>();
function pathsOf(custom: CustomAttribute[]): AttributePath[] {
  let p = paths.get(custom);
  // In name order: attributes made in key order are stored without sorting (user-digest.ts).
  if (!p) paths.set(custom, (p = custom.map((a) => ({ name: a.name, path: (a.attribute ?? a.name).split('.') })).sort((a, b) => (a.name < b.name ? -1 : 1))));
  return p;
}

function valueAt(raw: Raw, path: string[]): string | string[] | undefined {
  let v: unknown = raw;
  for (const part of path) v = v && typeof v === 'object' ? (v as Raw)[part] : undefined;
  if (Array.isArray(v)) return v.length ? v.map(String) : undefined;
  return text(v);
}

const text = (v: unknown): string | undefined => (v === null || v === undefined || v === '' ? undefined : String(v));

/** A user as changed by one delta item: present properties replace, absent ones stay. Pure. */
export function mergeUser(old: EntraUser | undefined, raw: Raw, custom: CustomAttribute[]): EntraUser {
  const attributes: Record<string, string | string[]> = old ? { ...old.attributes } : {};
  for (const a of pathsOf(custom)) {
    if (!Object.hasOwn(raw, a.path[0]!)) continue;
    const v = valueAt(raw, a.path);
    if (v === undefined) delete attributes[a.name];
    else attributes[a.name] = v;
  }
  const id = String(raw.id);
  const user: EntraUser = { id, upn: (Object.hasOwn(raw, 'userPrincipalName') ? text(raw.userPrincipalName) : old?.upn) ?? id, attributes };
  const email = Object.hasOwn(raw, 'mail') ? text(raw.mail) : old?.email;
  if (email) user.email = email;
  const displayName = Object.hasOwn(raw, 'displayName') ? text(raw.displayName) : old?.displayName;
  if (displayName) user.displayName = displayName;
  const firstName = Object.hasOwn(raw, 'givenName') ? text(raw.givenName) : old?.firstName;
  if (firstName) user.firstName = firstName;
  const lastName = Object.hasOwn(raw, 'surname') ? text(raw.surname) : old?.lastName;
  if (lastName) user.lastName = lastName;
  const guest = (Object.hasOwn(raw, 'userType') ? raw.userType === 'Guest' : old?.guest) || user.upn.includes('#EXT#');
  if (guest) user.guest = true;
  if (Object.hasOwn(raw, 'accountEnabled') ? raw.accountEnabled === false : old?.disabled) user.disabled = true;
  return user;
}

/** Whether a user is synced, given includeGuests and includeDisabledUsers. Pure. */
export function admitted(u: EntraUser, include: Inclusion): boolean {
  return (!u.guest || include.guests) && (!u.disabled || include.disabled);
}

export interface Inclusion {
  guests: boolean;
  disabled: boolean;
}

/** A group while a round reads it: members as a set, since a large group arrives over many pages. */
export interface GroupInProgress {
  name: string;
  members: Set<string>;
}

/** A group as changed by one delta item. Only user members count: nested groups and devices are not users. */
export function mergeGroup(group: GroupInProgress | undefined, raw: Raw): GroupInProgress {
  const g = group ?? { name: String(raw.id), members: new Set<string>() };
  if (Object.prototype.hasOwnProperty.call(raw, 'displayName')) g.name = String(raw.displayName ?? raw.id);
  for (const m of (raw['members@delta'] as Raw[] | undefined) ?? []) {
    if (m['@odata.type'] !== undefined && m['@odata.type'] !== '#microsoft.graph.user') continue;
    if (m['@removed']) g.members.delete(String(m.id));
    else g.members.add(String(m.id));
  }
  return g;
}

/** One item of a delta round into the round's changes; a user may come more than once. Pure but for `changes`. */
export function noteChange(changes: Map<string, UserChange>, raw: Raw): void {
  const id = String(raw.id);
  if (raw['@removed']) return void changes.set(id, { removed: true });
  // Merging the items' properties, later over earlier, is merging each in turn: mergeUser looks
  // at top-level properties only.
  const before = changes.get(id);
  changes.set(id, before && !before.removed ? { removed: false, raw: { ...before.raw, ...raw }, fresh: before.fresh } : { removed: false, raw, fresh: before !== undefined });
}

/**
 * A user as a delta round leaves it: as stored before (`old`, undefined when new) with the round's
 * change applied; undefined when removed. `fresh`: removed and back in the same round, so nothing
 * stored carries over. Pure.
 */
export function withChange(old: EntraUser | undefined, change: UserChange | undefined, custom: CustomAttribute[]): EntraUser | undefined {
  if (!change) return old;
  if (change.removed) return undefined;
  return mergeUser(change.fresh ? undefined : old, change.raw, custom);
}

const GROUPS_QUERY = '/groups/delta?$select=displayName,members';

/**
 * Reads a round. A full round (the first, or one after the delta token expired) reads the groups
 * first, then the users, handing each user to `onUser` as soon as its page is read: its groups are
 * known by then. A delta round reads both at once and hands nothing: its changes are applied to the
 * users stored before (withChange).
 */
export async function readEntraDirectory(
  graph: GraphClient,
  custom: CustomAttribute[],
  previous: EntraState | undefined,
  progress: (users: number) => void,
  onUser: (user: EntraUser, memberOf: Map<string, Membership>) => void,
): Promise<EntraRead> {
  try {
    return previous ? await readDelta(previous) : await readFull();
  } catch (e) {
    if (!(e instanceof ResyncRequired) || !previous) throw e;
    // The delta link expired or was reset: everything is read again, and what is missing is removed (guarded).
    return { ...(await readFull()), resync: `the stored delta link can no longer be followed (${e.message}): every user was read again` };
  }

  async function readGroups(from: EntraState | undefined) {
    const groups = new Map(Object.entries(from?.groups ?? {}).map(([id, g]) => [id, { name: g.name, members: new Set(g.members) }]));
    const link = await graph.delta(from?.groupsDeltaLink ?? GROUPS_QUERY, (items) => {
      for (const raw of items) {
        const id = String(raw.id);
        if (raw['@removed']) groups.delete(id);
        else groups.set(id, mergeGroup(groups.get(id), raw));
      }
    });
    const done = Object.fromEntries([...groups].map(([id, g]) => [id, { name: g.name, members: [...g.members].sort() }]));
    return { link, groups: done };
  }

  async function readFull(): Promise<EntraRead> {
    const g = await readGroups(undefined);
    const memberOf = groupsByUser(g.groups);
    const users = new Map<string, EntraUser>();
    let repeated = false;
    let count = 0;
    const link = await graph.delta(`/users/delta?$select=${userSelect(custom)}`, (items) => {
      for (const raw of items) {
        const id = String(raw.id);
        // A user changed while the round reads may come again, even removed: what was handed is stale.
        const before = users.get(id);
        if (before) repeated = true;
        if (raw['@removed']) {
          users.delete(id);
          continue;
        }
        const u = mergeUser(before, raw, custom);
        users.set(id, u);
        if (!repeated) onUser(u, memberOf);
      }
      count += items.length;
      progress(count);
    });
    return { full: true, users: [...users.values()], repeated, memberOf, groups: g.groups, state: { usersDeltaLink: link, groupsDeltaLink: g.link, groups: g.groups } };
  }

  // Both walks end before the round goes on (as a full round, after an expired link): none is left running.
  async function readDelta(from: EntraState): Promise<EntraRead> {
    const changes = new Map<string, UserChange>();
    const walks = await Promise.allSettled([graph.delta(from.usersDeltaLink, (items) => items.forEach((raw) => noteChange(changes, raw))), readGroups(from)]);
    const failed = walks.flatMap((w) => (w.status === 'rejected' ? [w.reason as unknown] : []));
    // An expired or reset link reads everything again; any other failure ends the round.
    if (failed.length) throw failed.find((e) => !(e instanceof ResyncRequired)) ?? failed[0];
    const [{ value: link }, { value: g }] = walks as [PromiseFulfilledResult<string>, PromiseFulfilledResult<Awaited<ReturnType<typeof readGroups>>>];
    return { full: false, changes, memberOf: groupsByUser(g.groups), groups: g.groups, state: { usersDeltaLink: link, groupsDeltaLink: g.link, groups: g.groups } };
  }
}

/** A user's groups: names and ids side by side, by name then id (two groups may share a name). */
export interface Membership {
  names: string[];
  ids: string[];
}

/** Each user's groups, by user id. Pure. */
export function groupsByUser(groups: Record<string, EntraGroup>): Map<string, Membership> {
  const byUser = new Map<string, [string, string][]>();
  for (const [id, g] of Object.entries(groups)) {
    for (const m of g.members) {
      const list = byUser.get(m);
      if (list) list.push([g.name, id]);
      else byUser.set(m, [[g.name, id]]);
    }
  }
  const out = new Map<string, Membership>();
  for (const [user, list] of byUser) {
    if (list.length > 1) list.sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1));
    out.set(user, { names: list.map((g) => g[0]), ids: list.map((g) => g[1]) });
  }
  return out;
}
