// The Entra emulator's directory: users and groups with a change version on every object, property and
// membership, and Graph's delta query over them (microsoft-graph-docs: delta-query-overview,
// delta-query-users, delta-query-groups, user-delta):
// - a round starts without a token (every object that exists now) or from a deltaLink (objects changed
//   since that link was issued); it is paged with @odata.nextLink and ends with @odata.deltaLink;
// - changed objects carry all selected properties that were ever set (or only the changed ones with
//   Prefer: return=minimal); a change to a property not selected returns nothing; removed ones are
//   {id, @removed: {reason: changed (restorable) | deleted}}, and a first round may carry those too;
// - groups carry members@delta (additions, and removals with @removed); a large group spans pages, the
//   same group object repeated with the next slice of members;
// - state lives in opaque tokens (base64url JSON with an HMAC), so links survive anything but an
//   expiry after 7 days (400 syncStateNotFound) or a synchronization reset (410 Gone).
// Changes made while a round is paged are reported again by the next round (replays are allowed); an
// initial round also gives users changed while it ran once more at its end, as Graph's initial snapshot
// may give a user on several pages.
// Node built-ins only: this module runs in the emulator's own process.
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  DEFAULT_GROUP_SELECT, DEFAULT_USER_SELECT, EXTENSION_ATTRIBUTES, GROUP_PROPERTIES, USER_PROPERTIES,
  directoryExtension, generatedPosition, generatedUser, generatedUserId, type GeneratorContext,
} from './entra-users.js';

export type Kind = 'users' | 'groups';
type State = 'active' | 'soft' | 'hard';

/** A Graph error answer: status and the error.code and error.message of its body. */
export class GraphFailure extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

interface Item {
  id: string;
  /** Properties that were ever set (a cleared one holds null). */
  props: Record<string, unknown>;
  /** Version of each property's last change; absent: the item's creation version. */
  changed: Record<string, number>;
  created: number;
  version: number;
  state: State;
  /** A soft-deleted user's groups, given back on restore. */
  formerGroups?: string[];
  /** Version of the last deletion or restore. */
  stateChanged?: number;
}

interface Membership {
  type: 'user' | 'group';
  /** Version of the last addition or removal. */
  version: number;
  /** Order of changes within the group: a cursor resumes after it, so removals never shift a page. */
  seq: number;
  removed: boolean;
}

interface Group extends Item {
  /** Members and removed members, oldest change first (a change moves the entry to the end). */
  members: Map<string, Membership>;
  order?: { version: number; entries: [string, Membership][] };
}

export interface Query {
  kind: Kind;
  /** Canonical property names, id excluded. */
  select: string[];
  members: boolean;
  filter: string[] | null;
}

export interface Cursor extends Query {
  epoch: number;
  /** When the link holding it was issued, by the emulator's clock (ms): links expire after 7 days. */
  issued: number;
  phase: 'initial' | 'delta';
  /** Report changes made after this version (delta phase). */
  since: number;
  /** The version when this round began: the next round's since. */
  start: number;
  pos: number;
  /** Within a group spanning pages: the last membership change already sent. */
  afterSeq: number;
}

export interface Page {
  value: Record<string, unknown>[];
  next?: Cursor;
  /** Set on the last page: the cursor of the next round. */
  delta?: Cursor;
}

const lower = (names: readonly string[]) => new Map(names.map((n) => [n.toLowerCase(), n]));
const USER_NAMES = lower(USER_PROPERTIES);
const GROUP_NAMES = lower(GROUP_PROPERTIES);
const TYPE_NAME: Record<Kind, string> = { users: 'microsoft.graph.user', groups: 'microsoft.graph.group' };

export class Directory {
  version = 1;
  private userCount = 0;
  /** Runs of generated users: never materialized until changed. */
  private readonly batches: { start: number; count: number; version: number }[] = [];
  private readonly users = new Map<number, Item>();
  private readonly userIds = new Map<string, number>();
  private readonly groups: Group[] = [];
  private readonly groupIds = new Map<string, number>();
  private seq = 0;
  private readonly extensions: Map<string, string>;

  constructor(readonly ctx: GeneratorContext, extensionNames: string[]) {
    this.extensions = lower(extensionNames.map((n) => directoryExtension(ctx.extensionAppId, n)));
  }

  stats() {
    let deleted = 0;
    for (const u of this.users.values()) if (u.state !== 'active') deleted++;
    return { version: this.version, users: this.userCount - deleted, deletedUsers: deleted, groups: this.groups.filter((g) => g.state === 'active').length };
  }

  // ---- users ----

  generateUsers(count: number): { first: number; count: number } {
    const first = this.userCount;
    this.batches.push({ start: first, count, version: ++this.version });
    this.userCount += count;
    return { first, count };
  }

  private batchOf(pos: number) {
    for (const b of this.batches) if (pos >= b.start && pos < b.start + b.count) return b;
    return undefined;
  }

  private userAt(pos: number): Item | undefined {
    const u = this.users.get(pos);
    if (u) return u;
    const b = this.batchOf(pos);
    return b && { id: generatedUserId(this.ctx.idPrefix, pos), props: generatedUser(this.ctx, pos), changed: {}, created: b.version, version: b.version, state: 'active' };
  }

  private userPos(id: string): number | undefined {
    const pos = this.userIds.get(id) ?? generatedPosition(this.ctx.idPrefix, id);
    return pos !== undefined && this.userAt(pos)?.id === id ? pos : undefined;
  }

  /** A user to change: generated ones are materialized first. */
  private user(id: string, states: State[] = ['active']): Item {
    const pos = this.userPos(id);
    const u = pos === undefined ? undefined : this.userAt(pos)!;
    if (!u || !states.includes(u.state)) throw new GraphFailure(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    this.users.set(pos!, u);
    return u;
  }

  getUser(id: string): Record<string, unknown> {
    const u = this.user(id, ['active', 'soft']);
    return { ...u.props, id: u.id, ...(u.state === 'soft' ? { deletedDateTime: 'soft-deleted' } : {}) };
  }

  createUser(input: Record<string, unknown>): string {
    const id = typeof input.id === 'string' ? input.id : randomUUID();
    if (this.userPos(id) !== undefined) throw new GraphFailure(400, 'Request_BadRequest', `Another object with the same value for property id already exists.`);
    const { id: _id, ...given } = input;
    const props = this.canonicalNames('users', given);
    const pos = this.userCount++;
    const v = ++this.version;
    props.userPrincipalName ??= `u${pos}@${this.ctx.domain}`;
    if (props.onPremisesExtensionAttributes !== undefined) props.onPremisesExtensionAttributes = { ...(props.onPremisesExtensionAttributes as object) };
    this.users.set(pos, { id, props, changed: {}, created: v, version: v, state: 'active' });
    this.userIds.set(id, pos);
    return id;
  }

  /** Sets properties (null clears one); onPremisesExtensionAttributes merges, as Graph's PATCH does. */
  updateUser(id: string, patch: Record<string, unknown>): void {
    const u = this.user(id);
    const changes = this.canonicalNames('users', patch);
    const v = ++this.version;
    for (const [name, value] of Object.entries(changes)) {
      if (name === 'id') continue;
      u.props[name] = name === 'onPremisesExtensionAttributes' && value ? { ...(u.props[name] as object), ...(value as object) } : value;
      u.changed[name] = v;
    }
    u.version = v;
  }

  /**
   * Soft delete (restorable: reason changed) or hard (reason deleted); either way the user leaves
   * its groups' members, but a soft-deleted one keeps its memberships for a restore.
   */
  deleteUser(id: string, hard: boolean): void {
    const u = this.user(id, hard ? ['active', 'soft'] : ['active']);
    const v = ++this.version;
    if (hard) u.props = {};
    u.state = hard ? 'hard' : 'soft';
    u.version = u.stateChanged = v;
    const left = this.dropMember(id, v);
    u.formerGroups = hard ? undefined : left;
  }

  /**
   * Back from the recycle bin: every property reads as changed, and the user is a member of its
   * groups again (those not deleted meanwhile): "When you restore a user, ... group memberships
   * are restored" (https://learn.microsoft.com/en-us/entra/fundamentals/users-restore), so group
   * delta reports them as added.
   */
  restoreUser(id: string): void {
    const u = this.user(id, ['soft']);
    const v = ++this.version;
    u.state = 'active';
    u.version = u.stateChanged = v;
    for (const name of Object.keys(u.props)) u.changed[name] = v;
    u.changed.onPremisesExtensionAttributes = v;
    for (const gid of u.formerGroups ?? []) {
      const g = this.groups[this.groupIds.get(gid)!]!;
      if (g.state !== 'active' || g.members.get(id)?.removed === false) continue;
      this.setMembership(g, id, { type: 'user', version: v, seq: ++this.seq, removed: false });
      g.version = v;
    }
    u.formerGroups = undefined;
  }

  // ---- groups ----

  private group(id: string, states: State[] = ['active']): Group {
    const i = this.groupIds.get(id);
    const g = i === undefined ? undefined : this.groups[i];
    if (!g || !states.includes(g.state)) throw new GraphFailure(404, 'Request_ResourceNotFound', `Resource '${id}' does not exist or one of its queried reference-property objects are not present.`);
    return g;
  }

  createGroup(input: Record<string, unknown>): string {
    const { id: given, members, ...rest } = input;
    const id = typeof given === 'string' ? given : randomUUID();
    if (this.groupIds.has(id)) throw new GraphFailure(400, 'Request_BadRequest', `Another object with the same value for property id already exists.`);
    const props = this.canonicalNames('groups', rest);
    const v = ++this.version;
    const g: Group = {
      id, changed: {}, created: v, version: v, state: 'active', members: new Map(),
      props: { mailEnabled: false, securityEnabled: true, groupTypes: [], ...props },
    };
    this.groups.push(g);
    this.groupIds.set(id, this.groups.length - 1);
    if (Array.isArray(members) && members.length) this.addMembers(id, members as string[]);
    return id;
  }

  updateGroup(id: string, patch: Record<string, unknown>): void {
    const g = this.group(id);
    const changes = this.canonicalNames('groups', patch);
    const v = ++this.version;
    for (const [name, value] of Object.entries(changes)) {
      if (name === 'id' || name === 'members') continue;
      g.props[name] = value;
      g.changed[name] = v;
    }
    g.version = v;
  }

  deleteGroup(id: string, hard: boolean): void {
    const g = this.group(id, hard ? ['active', 'soft'] : ['active']);
    const v = ++this.version;
    g.state = hard ? 'hard' : 'soft';
    g.version = g.stateChanged = v;
    this.dropMember(id, v);
  }

  addMembers(groupId: string, ids: string[]): void {
    const g = this.group(groupId);
    const typed = ids.map((id) => {
      if (this.groupIds.has(id)) {
        this.group(id);
        return { id, type: 'group' as const };
      }
      this.user(id);
      return { id, type: 'user' as const };
    });
    const existing = typed.filter((m) => g.members.get(m.id)?.removed === false).map((m) => m.id);
    if (existing.length) throw new GraphFailure(400, 'Request_BadRequest', `One or more added object references already exist for the following modified properties: 'members'. (${existing.join(', ')})`);
    const v = ++this.version;
    for (const m of typed) this.setMembership(g, m.id, { type: m.type, version: v, seq: ++this.seq, removed: false });
    g.version = v;
  }

  removeMember(groupId: string, memberId: string): void {
    const g = this.group(groupId);
    const m = g.members.get(memberId);
    if (!m || m.removed) throw new GraphFailure(404, 'Request_ResourceNotFound', `Resource '${memberId}' does not exist or one of its queried reference-property objects are not present.`);
    const v = ++this.version;
    this.setMembership(g, memberId, { ...m, version: v, seq: ++this.seq, removed: true });
    g.version = v;
  }

  /** Groups of `count`: group k holds every active user whose position is k modulo count (for large tests and the bench). */
  generateGroups(count: number): string[] {
    const ids: string[] = [];
    for (let k = 0; k < count; k++) {
      const id = this.createGroup({ displayName: `Équipe ${k}`, mailNickname: `team${k}`, description: `Generated group ${k}` });
      const g = this.group(id);
      const v = ++this.version;
      for (let pos = k; pos < this.userCount; pos += count) {
        const u = this.userAt(pos);
        if (u?.state === 'active') this.setMembership(g, u.id, { type: 'user', version: v, seq: ++this.seq, removed: false });
      }
      g.version = v;
      ids.push(id);
    }
    return ids;
  }

  private setMembership(g: Group, id: string, m: Membership): void {
    g.members.delete(id);
    g.members.set(id, m);
    g.changed.members = m.version;
  }

  /** Entra drops a deleted object from the members of every group it was in; returns those groups. */
  private dropMember(id: string, v: number): string[] {
    const left: string[] = [];
    for (const g of this.groups) {
      const m = g.members.get(id);
      if (!m || m.removed) continue;
      this.setMembership(g, id, { ...m, version: v, seq: ++this.seq, removed: true });
      g.version = v;
      left.push(g.id);
    }
    return left;
  }

  // ---- delta queries ----

  /** Properties as Graph spells them; an unknown one is refused. */
  private canonicalNames(kind: Kind, props: Record<string, unknown>): Record<string, unknown> {
    return Object.fromEntries(Object.entries(props).map(([name, value]) => [this.canonical(kind, name), value]));
  }

  private canonical(kind: Kind, name: string): string {
    const key = name.trim().toLowerCase();
    const found = (kind === 'users' ? USER_NAMES : GROUP_NAMES).get(key) ?? (kind === 'users' ? this.extensions.get(key) : undefined);
    if (!found) throw new GraphFailure(400, 'BadRequest', `Parsing OData Select and Expand failed: Could not find a property named '${name.trim()}' on type '${TYPE_NAME[kind]}'.`);
    return found;
  }

  /** The query of a first request: $select (default properties without it), $expand=members, $filter on ids only. */
  parseQuery(kind: Kind, params: URLSearchParams): Query {
    const selectText = params.get('$select');
    const names = selectText ? selectText.split(',').filter((s) => s.trim()).map((n) => this.canonical(kind, n)) : kind === 'users' ? DEFAULT_USER_SELECT : DEFAULT_GROUP_SELECT;
    const expand = params.get('$expand');
    if (expand && !(kind === 'groups' && expand.trim().toLowerCase() === 'members')) {
      throw new GraphFailure(400, 'Request_UnsupportedQuery', `Unsupported Query. $expand=${expand} is not supported on ${kind} delta.`);
    }
    const select = [...new Set(names.filter((n) => n !== 'id' && n !== 'members'))];
    return { kind, select, members: kind === 'groups' && (names.includes('members') || !!expand), filter: parseFilter(params.get('$filter')) };
  }

  begin(query: Query, epoch: number, latest: boolean): Cursor {
    const v = this.version;
    return latest
      ? { ...query, epoch, issued: 0, phase: 'delta', since: v, start: v, pos: Number.MAX_SAFE_INTEGER, afterSeq: 0 }
      : { ...query, epoch, issued: 0, phase: 'initial', since: 0, start: v, pos: 0, afterSeq: 0 };
  }

  /** A deltaLink's cursor, when used: a new round from where the last one began. */
  resume(c: Cursor): Cursor {
    return { ...c, phase: 'delta', since: c.since, start: this.version, pos: 0, afterSeq: 0 };
  }

  page(c: Cursor, size: number, memberBudget: number, minimal: boolean): Page {
    const value: Record<string, unknown>[] = [];
    const mode = c.phase === 'initial' ? 'initial' : minimal ? 'minimal' : 'delta';
    const wanted = c.filter && new Set(c.filter);
    let pos = c.pos;
    let afterSeq = c.afterSeq;
    // An initial round reads the users as they are when each page is made; users changed since it
    // began come once more after the last position, whole (a user may appear on several pages).
    const userEnd = c.phase === 'initial' && this.version > c.start ? 2 * this.userCount : this.userCount;
    if (c.kind === 'users') {
      for (; pos < userEnd && value.length < size; pos++) {
        const again = pos >= this.userCount;
        const u = this.userAt(again ? pos - this.userCount : pos);
        if (!u || (wanted && !wanted.has(u.id))) continue;
        // A first round may carry users in the recycle bin as @removed; a later one, users whose
        // selected properties changed (a change to another property returns nothing: user-delta).
        if (again ? u.state === 'active' && this.changedSince(u, c, c.start) : c.phase === 'initial' ? u.state !== 'hard' : this.changedSince(u, c, c.since)) value.push(this.render(u, c, mode));
      }
    } else {
      let budget = memberBudget;
      while (pos < this.groups.length && value.length < size) {
        const g = this.groups[pos]!;
        const included = (!wanted || wanted.has(g.id)) && (c.phase === 'initial' ? g.state !== 'hard' : this.changedSince(g, c, c.since));
        if (!included) {
          pos++;
          afterSeq = 0;
          continue;
        }
        const changes = g.state === 'active' && c.members ? this.memberChanges(g, c, afterSeq, budget) : undefined;
        if (changes?.more && changes.entries.length === 0) break; // no member budget left: the group starts the next page
        const item = this.render(g, c, mode);
        if (changes?.entries.length) item['members@delta'] = changes.entries;
        value.push(item);
        budget -= changes?.entries.length ?? 0;
        if (changes?.more) {
          afterSeq = changes.lastSeq; // the group's next slice of members goes on the next page
          break;
        }
        pos++;
        afterSeq = 0;
      }
    }
    const done = c.kind === 'users' ? pos >= userEnd : pos >= this.groups.length;
    return done ? { value, delta: { ...c, phase: 'delta', since: c.start, start: c.start, pos: 0, afterSeq: 0 } } : { value, next: { ...c, pos, afterSeq } };
  }

  /** Whether a delta round since `since` returns the object: new, deleted or restored, or a selected property (or members) changed. */
  private changedSince(item: Item, c: Cursor, since: number): boolean {
    if (item.version <= since) return false;
    if (item.created > since || (item.stateChanged ?? 0) > since) return true;
    return c.select.some((name) => (item.changed[name] ?? 0) > since) || (c.members && (item.changed.members ?? 0) > since);
  }

  /** A group's membership entries for this round after a change sequence number, at most `budget`. */
  private memberChanges(g: Group, c: Cursor, afterSeq: number, budget: number) {
    if (!g.order || g.order.version !== g.version) g.order = { version: g.version, entries: [...g.members] };
    const all = g.order.entries;
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid]![1].seq <= afterSeq) lo = mid + 1;
      else hi = mid;
    }
    const entries: Record<string, unknown>[] = [];
    let lastSeq = afterSeq;
    let i = lo;
    for (; i < all.length; i++) {
      const [id, m] = all[i]!;
      const reported = c.phase === 'initial' ? !m.removed : m.version > c.since;
      if (!reported) continue;
      if (entries.length >= budget) return { entries, lastSeq, more: true };
      entries.push(m.removed ? { '@odata.type': `#microsoft.graph.${m.type}`, id, '@removed': { reason: 'deleted' } } : { '@odata.type': `#microsoft.graph.${m.type}`, id });
      lastSeq = m.seq;
    }
    return { entries, lastSeq, more: false };
  }

  private render(item: Item, c: Cursor, mode: 'initial' | 'delta' | 'minimal'): Record<string, unknown> {
    if (item.state !== 'active') return { id: item.id, '@removed': { reason: item.state === 'soft' ? 'changed' : 'deleted' } };
    const out: Record<string, unknown> = {};
    for (const name of c.select) {
      if (name === 'manager') continue; // managers are not modelled
      if (mode === 'minimal' && (item.changed[name] ?? item.created) <= c.since) continue;
      // Properties never set are left out, on a first round as on later ones; one cleared since is
      // sent as null (user-delta, "Response": "... properties that have not been set ... are not
      // returned"; delta-query-overview, "Resource representation in the delta query response").
      // https://learn.microsoft.com/en-us/graph/api/user-delta
      if (name === 'onPremisesExtensionAttributes') out[name] = extensionAttributes(item.props[name]);
      else if (Object.prototype.hasOwnProperty.call(item.props, name)) out[name] = item.props[name];
    }
    out.id = item.id;
    return out;
  }

  /** The @odata.context of a page. */
  static context(base: string, q: Query): string {
    return `${base}/v1.0/$metadata#${q.kind}(${[...q.select, ...(q.members ? ['members'] : [])].join(',')})`;
  }
}

/** onPremisesExtensionAttributes always reads with its 15 members, null when unset. */
function extensionAttributes(v: unknown): Record<string, unknown> {
  const set = (v ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const n of EXTENSION_ATTRIBUTES) out[n] = set[n] ?? null;
  return out;
}

/** Delta accepts only filters on ids: id eq '...' joined with or, or id in (...). */
function parseFilter(text: string | null): string[] | null {
  if (!text) return null;
  const inList = /^\s*id\s+in\s*\(([^)]*)\)\s*$/i.exec(text);
  const parts = inList ? inList[1]!.split(',') : text.split(/\s+or\s+/i);
  const term = inList ? /^\s*'([^']+)'\s*$/ : /^\s*id\s+eq\s+'([^']+)'\s*$/i;
  const ids = parts.map((p) => term.exec(p)?.[1]);
  if (ids.some((id) => !id)) throw new GraphFailure(400, 'Request_UnsupportedQuery', 'Unsupported Query.');
  return ids as string[];
}

// ---- opaque state tokens ----

export function encodeCursor(c: Cursor, key: Buffer): string {
  const body = Buffer.from(JSON.stringify(c)).toString('base64url');
  return `${body}.${createHmac('sha256', key).update(body).digest().subarray(0, 16).toString('base64url')}`;
}

/** undefined for a token this emulator did not make. */
export function decodeCursor(token: string, key: Buffer): Cursor | undefined {
  const [body, mac] = token.split('.');
  if (!body || !mac) return undefined;
  const expected = createHmac('sha256', key).update(body).digest().subarray(0, 16);
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString()) as Cursor;
  } catch {
    return undefined;
  }
}
