// Users and groups of an Entra ID tenant through Graph delta queries. The first round (or one
// after 410 Gone) reads everything; later rounds start from the stored deltaLinks and apply what
// changed: properties present in a change replace the old values, absent ones are kept,
// `@removed` removes, and `members@delta` adds or removes members.
import { DeltaGone, type GraphClient } from './graph.js';

export interface EntraUser {
  /** Graph object id. */
  id: string;
  upn: string;
  email?: string;
  displayName?: string;
  attributes: Record<string, string | string[]>;
}

export interface EntraGroup {
  name: string;
  members: string[];
}

export interface EntraState {
  usersDeltaLink: string;
  groupsDeltaLink: string;
  groups: Record<string, EntraGroup>;
}

/** What a delta round says of one user: removed, or the properties its items changed (merged). */
export type UserChange = { removed: true } | { removed: false; raw: Raw; fresh: boolean };

interface ReadBase {
  groups: Record<string, EntraGroup>;
  state: EntraState;
}

/**
 * A full round (the first, or one after the delta token expired) holds every user; a delta round
 * only what changed, to be applied to the users stored before (withChange), which it never holds.
 */
export type EntraRead = ReadBase & ({ full: true; users: EntraUser[] } | { full: false; changes: Map<string, UserChange> });

export interface CustomAttribute {
  name: string;
  /** A Graph user property, a dotted path into one (onPremisesExtensionAttributes.extensionAttribute1) or a directory extension (extension_<appId>_<name>). */
  attribute?: string;
}

type Raw = Record<string, unknown>;

const BASE_PROPERTIES = ['id', 'userPrincipalName', 'mail', 'displayName'];

export function userSelect(custom: CustomAttribute[]): string {
  const top = custom.map((a) => (a.attribute ?? a.name).split('.')[0]!);
  return [...new Set([...BASE_PROPERTIES, ...top])].join(',');
}

function valueAt(raw: Raw, path: string): string | string[] | undefined {
  let v: unknown = raw;
  for (const part of path.split('.')) v = v && typeof v === 'object' ? (v as Raw)[part] : undefined;
  if (v === null || v === undefined || v === '') return undefined;
  if (Array.isArray(v)) return v.length ? v.map(String) : undefined;
  return String(v);
}

/** A user as changed by one delta item: present properties replace, absent ones stay. Pure. */
export function mergeUser(old: EntraUser | undefined, raw: Raw, custom: CustomAttribute[]): EntraUser {
  const has = (p: string) => Object.prototype.hasOwnProperty.call(raw, p);
  const pick = (p: string, before: string | undefined) => (has(p) ? (valueAt(raw, p) as string | undefined) : before);
  const attributes = { ...old?.attributes };
  for (const a of custom) {
    const path = a.attribute ?? a.name;
    if (!has(path.split('.')[0]!)) continue;
    const v = valueAt(raw, path);
    if (v === undefined) delete attributes[a.name];
    else attributes[a.name] = v;
  }
  const email = pick('mail', old?.email);
  const displayName = pick('displayName', old?.displayName);
  return {
    id: String(raw.id),
    upn: pick('userPrincipalName', old?.upn) ?? String(raw.id),
    ...(email ? { email } : {}),
    ...(displayName ? { displayName } : {}),
    attributes,
  };
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

export async function readEntraDirectory(graph: GraphClient, custom: CustomAttribute[], previous: EntraState | undefined, progress: (users: number) => void): Promise<EntraRead> {
  try {
    return await readRound(previous);
  } catch (e) {
    if (!(e instanceof DeltaGone) || !previous) throw e;
    // The delta token expired: everything is read again, and what is missing is removed (guarded).
    return readRound(undefined);
  }

  async function readRound(from: EntraState | undefined): Promise<EntraRead> {
    const users = new Map<string, EntraUser>();
    const changes = new Map<string, UserChange>();
    let count = 0;
    const groups = new Map(Object.entries(from?.groups ?? {}).map(([id, g]) => [id, { name: g.name, members: new Set(g.members) }]));
    // Users and groups are two delta queries of their own: read both at once.
    const usersDelta = graph.delta(from?.usersDeltaLink ?? `/users/delta?$select=${userSelect(custom)}`, (items) => {
      for (const raw of items) {
        const id = String(raw.id);
        if (!from) {
          // A user may come more than once in a round: later items change earlier ones.
          if (raw['@removed']) users.delete(id);
          else users.set(id, mergeUser(users.get(id), raw, custom));
        } else noteChange(changes, raw);
      }
      count += items.length;
      progress(count);
    });
    const groupsDelta = graph.delta(from?.groupsDeltaLink ?? '/groups/delta?$select=displayName,members', (items) => {
      for (const raw of items) {
        const id = String(raw.id);
        if (raw['@removed']) groups.delete(id);
        else groups.set(id, mergeGroup(groups.get(id), raw));
      }
    });
    const [usersDeltaLink, groupsDeltaLink] = await Promise.all([usersDelta, groupsDelta]);
    const done = Object.fromEntries([...groups].map(([id, g]) => [id, { name: g.name, members: [...g.members].sort() }]));
    const base = { groups: done, state: { usersDeltaLink, groupsDeltaLink, groups: done } };
    return from ? { ...base, full: false, changes } : { ...base, full: true, users: [...users.values()] };
  }
}

/** Group names by user id. Pure. */
export function groupsByUser(groups: Record<string, EntraGroup>): Map<string, string[]> {
  const byUser = new Map<string, string[]>();
  for (const g of Object.values(groups)) {
    for (const m of g.members) {
      const list = byUser.get(m);
      if (list) list.push(g.name);
      else byUser.set(m, [g.name]);
    }
  }
  for (const list of byUser.values()) list.sort();
  return byUser;
}
