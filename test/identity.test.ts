// The pure decisions of identity sources: Apple IDs, attribute coverage, delta merges, LDAP names,
// the schedule, Retry-After and the progress line.
import { describe, expect, it } from 'vitest';
import { progressLine } from '../src/cli/progress.js';
import { nextSyncAt } from '../src/providers/source-sync.js';
import { AppleIdAssigner, appleIdOf, type AppleIdSettings } from '../src/identity/apple-id.js';
import { AttributeCounter } from '../src/identity/attributes.js';
import { admitted, groupsByUser, mergeGroup, mergeUser, noteChange, userSelect, withChange, type UserChange } from '../src/identity/entra-directory.js';
import { leadingNextLink, retryAfterMs } from '../src/identity/graph.js';
import { describeSkipped, memberAttributes } from '../src/identity/ldap-directory.js';
import { caseIgnore, dnKey, memberDnKey } from '../src/identity/ldap-names.js';
import { RoundBuilder } from '../src/providers/sync-round.js';
import { digestMatches, userColumns, userDigest } from '../src/store/user-digest.js';
import type { StoredRecord, UserStage } from '../src/store/types.js';
import type { DirectoryUser } from '../src/api/index.js';

const user = (id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({ tenant: 't', id, source: 'S/s', upn: `${id}@contoso.com`, groups: [], attributes: {}, labels: {}, ...extra });

// A whole list of users at once through the builders a sync round feeds one user at a time.
function assignAppleIds(users: DirectoryUser[], settings: AppleIdSettings) {
  const assigner = new AppleIdAssigner(settings);
  for (const u of users) assigner.add(u);
  return { users, ...assigner.finish() };
}
function attributeCoverage(users: DirectoryUser[], names: string[]) {
  const counter = new AttributeCounter(names);
  for (const u of users) counter.add(u);
  return counter.coverage();
}
function syncRound(tenant: string, stored: Map<string, string>, incoming: DirectoryUser[], allowMassDelete = false) {
  const round = new RoundBuilder(tenant);
  round.compareWith(stored);
  for (const u of incoming) round.add(u);
  return round.finish(allowMassDelete);
}

describe('managed Apple IDs', () => {
  it('are built from the address, in the appleid subdomain when asked', () => {
    expect(appleIdOf('Anne.Dupont@Contoso.com', false)).toBe('Anne.Dupont@contoso.com');
    expect(appleIdOf('anne@contoso.com', true)).toBe('anne@appleid.contoso.com');
    expect(appleIdOf('no-at-sign', true)).toBeUndefined();
    expect(appleIdOf('@contoso.com', true)).toBeUndefined();
  });

  it('report collisions (ignoring case) and users without an address, and give those none', () => {
    const r = assignAppleIds(
      [user('a', { email: 'Anne@contoso.com' }), user('b', { email: 'anne@contoso.com' }), user('c', { email: 'carl@contoso.com' }), user('d', { appleId: 'stale@x' })],
      { mode: 'Schema', schema: 'UserEmailAddress', includeAppleIdSubdomain: false },
    );
    expect(r.collisions).toEqual([{ appleId: 'Anne@contoso.com', users: ['a@contoso.com', 'b@contoso.com'] }]);
    expect(r.missing).toEqual(['d@contoso.com']);
    expect(r.users.map((u) => u.appleId)).toEqual([undefined, undefined, 'carl@contoso.com', undefined]);
    const byUpn = assignAppleIds([user('a')], { mode: 'Schema', schema: 'UserUPN', includeAppleIdSubdomain: true });
    expect(byUpn.users[0]!.appleId).toBe('a@appleid.contoso.com');
    expect(assignAppleIds([user('d', { appleId: 'x@y' })], { mode: 'None', includeAppleIdSubdomain: false }).users[0]!.appleId).toBeUndefined();
  });
});

describe('attribute coverage', () => {
  it('tells none from some, and counts who lacks each', () => {
    const users = [user('a', { attributes: { dept: 'R&D' } }), user('b'), user('c', { attributes: { dept: 'Sales' } })];
    expect(attributeCoverage(users, ['dept', 'badge'])).toEqual({ none: false, lacking: [{ name: 'dept', users: 1 }, { name: 'badge', users: 3 }] });
    expect(attributeCoverage(users, ['badge']).none).toBe(true);
    expect(attributeCoverage([], ['badge']).none).toBe(false);
    expect(attributeCoverage(users, [])).toEqual({ none: false, lacking: [] });
  });
});

describe('sync rounds', () => {
  it('compare users by every stored field, arrays in order and attributes in any key order', () => {
    const a = user('a', { groups: ['g1'], attributes: { d: ['x', 'y'], e: 'z' } });
    expect(userDigest({ ...a, attributes: { e: 'z', d: ['x', 'y'] } })).toBe(userDigest(a));
    for (const changed of [{ attributes: { d: ['y', 'x'], e: 'z' } }, { attributes: { d: 'x', e: 'z' } }, { groups: ['g1', 'g2'] }, { appleId: 'a@x' }, { email: 'a@x' }, { displayName: 'A' }, { upn: 'b@x' }, { labels: { os: 'ios' } }]) {
      expect(userDigest({ ...a, ...changed }), JSON.stringify(changed)).not.toBe(userDigest(a));
      expect(digestMatches(userDigest(a), userColumns({ ...a, ...changed })), JSON.stringify(changed)).toBe(false);
      expect(digestMatches(userDigest({ ...a, ...changed }), userColumns(a)), JSON.stringify(changed)).toBe(false);
    }
    // Compared in place, as a sync does: equal only to the whole digest.
    expect(digestMatches(userDigest(a), userColumns(a))).toBe(true);
    expect(digestMatches(userDigest({ ...a, appleId: 'a@x' }), userColumns({ ...a, appleId: 'a@x' }))).toBe(true);
    expect(digestMatches(`${userDigest(a)}x`, userColumns(a))).toBe(false);
    expect(digestMatches(userDigest(a).slice(0, -1), userColumns(a))).toBe(false);
    expect(digestMatches(userDigest(a).replace('\u0001', '\u0002'), userColumns(a))).toBe(false);
  });

  it('write only what changed, never delete on an empty answer, and stop above the guard unless confirmed', () => {
    const mine = Array.from({ length: 100 }, (_, i) => user(`u${i}`));
    const stored = new Map(mine.map((u) => [u.id, userDigest(u)]));
    expect(syncRound('t', stored, mine)).toMatchObject({ writes: [], added: 0, updated: 0, removed: 0 });
    const round = syncRound('t', stored, [...mine.slice(1), { ...mine[0]!, displayName: 'New' }, user('new')]);
    expect(round).toMatchObject({ added: 1, updated: 1, removed: 0 });
    expect(round.writes.map((w) => (w.op === 'putUser' ? w.user.id : w.op))).toEqual(['u0', 'new']);
    expect(syncRound('t', stored, []).blocked).toContain('returned no users');
    expect(syncRound('t', stored, mine.slice(11)).blocked).toContain('would delete 11 of 100 users');
    expect(syncRound('t', stored, mine.slice(10))).toMatchObject({ removed: 10 });
    expect(syncRound('t', stored, mine.slice(11), true).writes.filter((w) => w.op === 'deleteUser')).toHaveLength(11);
  });
});

describe('sync rounds built as users arrive', () => {
  const byEmail = { mode: 'Schema' as const, schema: 'UserEmailAddress' as const, includeAppleIdSubdomain: false };
  const summary = (r: ReturnType<RoundBuilder['finish']>) => ({
    added: r.added,
    updated: r.updated,
    removed: r.removed,
    blocked: r.blocked,
    writes: r.writes.map((w) => (w.op === 'putUser' ? `put ${w.user.id} ${w.user.appleId ?? '-'}` : w.op === 'deleteUser' ? `delete ${w.id}` : w.op)),
  });

  it('come to the same whether the stored users are compared before, amid or after the users read', () => {
    const stored = new Map(Array.from({ length: 50 }, (_, i) => user(`u${i}`)).map((u) => [u.id, userDigest(u)]));
    const incoming = () => [...Array.from({ length: 45 }, (_, i) => user(`u${i + 5}`, i === 3 ? { displayName: 'Changed' } : {})), user('new', { email: 'new@contoso.com' })];
    const results = [0, 20, 46].map((at) => {
      const round = new RoundBuilder('t', { attributes: [], newUsers: true });
      incoming().forEach((u, i) => {
        if (i === at) round.compareWith(stored);
        round.add(u);
      });
      if (at === 46) round.compareWith(stored);
      return round.finish();
    });
    for (const r of results) expect(summary(r)).toEqual(summary(results[0]!));
    expect(summary(results[0]!)).toMatchObject({ added: 1, updated: 1, removed: 5, writes: ['put u8 -', 'put new -', 'delete u0', 'delete u1', 'delete u2', 'delete u3', 'delete u4'] });
    expect(results[0]!.newUsers.map((u) => u.id)).toEqual(['new']);
  });

  /** A stage that keeps what it holds in a map, and writes it as putUser writes would read. */
  const fakeStage = () => {
    const held = new Map<string, string>();
    const stage: UserStage = { put: (u, columns) => void held.set(u.id, `put ${u.id} ${columns[7] ?? '-'}`), unstage: (_t, id) => void held.delete(id), close: async () => undefined };
    return { stage, held };
  };

  for (const staged of [false, true]) {
    it(`take back an Apple ID that a later user turns out to share, and write the user that held it${staged ? ' (staged)' : ''}`, () => {
      // a holds Anne@contoso.com in the store; b, read after a was found unchanged, claims it too.
      // d is stored without an Apple ID (it collided before) and is read before e, which claims the same one.
      const a = user('a', { email: 'Anne@contoso.com' });
      const d = user('d', { email: 'dora@contoso.com' });
      const stored = new Map([[a.id, userDigest({ ...a, appleId: 'Anne@contoso.com' })], [d.id, userDigest(d)]]);
      const fake = fakeStage();
      const round = new RoundBuilder('t', { appleIds: byEmail, attributes: ['dept'], newUsers: true, ...(staged ? { stage: fake.stage } : {}) });
      round.compareWith(stored);
      const users = [user('a', { email: 'Anne@contoso.com' }), user('d', { email: 'dora@contoso.com' }), user('b', { email: 'anne@contoso.com', attributes: { dept: 'R&D' } }), user('c', { email: 'carl@contoso.com' }), user('e', { email: 'Dora@contoso.com' })];
      for (const u of users) round.add(u);
      const r = round.finish();
      const writes = ['put a -', 'put b -', 'put c carl@contoso.com', 'put e -'];
      if (staged) {
        expect(summary(r)).toEqual({ added: 3, updated: 1, removed: 0, blocked: undefined, writes: ['putStagedUsers'] });
        expect([...fake.held.values()].sort()).toEqual(writes);
      } else expect({ ...summary(r), writes: summary(r).writes.sort() }).toEqual({ added: 3, updated: 1, removed: 0, blocked: undefined, writes });
      expect(r.newUsers.map((u) => u.id)).toEqual(['b', 'c', 'e']);
      expect(r.appleIds.collisions).toEqual([
        { appleId: 'Anne@contoso.com', users: ['a@contoso.com', 'b@contoso.com'] },
        { appleId: 'dora@contoso.com', users: ['d@contoso.com', 'e@contoso.com'] },
      ]);
      expect(r.coverage).toEqual({ none: false, lacking: [{ name: 'dept', users: 4 }] });
      // Once stored without it, the same users are unchanged.
      const again = new RoundBuilder('t', { appleIds: byEmail });
      again.compareWith(new Map(users.map((u) => [u.id, userDigest(u)])));
      for (const u of [user('a', { email: 'Anne@contoso.com' }), user('d', { email: 'dora@contoso.com' }), user('b', { email: 'anne@contoso.com', attributes: { dept: 'R&D' } }), user('c', { email: 'carl@contoso.com' }), user('e', { email: 'Dora@contoso.com' })]) again.add(u);
      expect(summary(again.finish()).writes).toEqual([]);
    });
  }

  it('never delete on an empty answer, and stop above the guard unless confirmed', () => {
    const stored = new Map(Array.from({ length: 1000 }, (_, i) => user(`u${i}`)).map((u) => [u.id, userDigest(u)]));
    const empty = new RoundBuilder('t');
    empty.compareWith(stored);
    expect(empty.finish(true)).toMatchObject({ writes: [], blocked: expect.stringContaining('returned no users') });
    const most = () => {
      const round = new RoundBuilder('t');
      round.compareWith(stored);
      for (let i = 0; i < 899; i++) round.add(user(`u${i}`));
      return round;
    };
    expect(most().finish()).toMatchObject({ writes: [], blocked: expect.stringContaining('would delete 101 of 1000 users') });
    expect(most().finish(true)).toMatchObject({ removed: 101 });
  });
});

describe('Graph delta merges', () => {
  const custom = [{ name: 'dept', attribute: 'department' }, { name: 'cc', attribute: 'onPremisesExtensionAttributes.extensionAttribute1' }];

  it('select each top-level property once', () => {
    expect(userSelect(custom)).toBe('id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled,userType,department,onPremisesExtensionAttributes');
  });

  it('replace present properties, keep absent ones, and clear nulls', () => {
    const first = mergeUser(undefined, { id: '1', userPrincipalName: 'a@x', mail: null, displayName: 'A', givenName: 'Anne', surname: 'Smith', department: 'R&D', onPremisesExtensionAttributes: { extensionAttribute1: 'CC1' } }, custom);
    expect(first).toEqual({ id: '1', upn: 'a@x', displayName: 'A', firstName: 'Anne', lastName: 'Smith', attributes: { dept: 'R&D', cc: 'CC1' } });
    const changed = mergeUser(first, { id: '1', displayName: 'Anne', department: null }, custom);
    expect(changed).toEqual({ id: '1', upn: 'a@x', displayName: 'Anne', firstName: 'Anne', lastName: 'Smith', attributes: { cc: 'CC1' } });
    expect(mergeUser(changed, { id: '1', surname: 'Jones' }, custom)).toEqual({ ...changed, lastName: 'Jones' });
    expect(mergeUser(changed, { id: '1', givenName: null, surname: '' }, custom)).toEqual({ id: '1', upn: 'a@x', displayName: 'Anne', attributes: { cc: 'CC1' } });
  });

  it("fold a delta round's items for one user into one change, applied to the user stored before", () => {
    const stored = mergeUser(undefined, { id: '1', userPrincipalName: 'a@x', displayName: 'A', department: 'R&D', onPremisesExtensionAttributes: { extensionAttribute1: 'CC1' } }, custom);
    const changes = new Map<string, UserChange>();
    noteChange(changes, { id: '1', displayName: 'Anne', onPremisesExtensionAttributes: { extensionAttribute1: 'CC2' } });
    noteChange(changes, { id: '1', department: 'Sales', onPremisesExtensionAttributes: { extensionAttribute1: null } });
    // As if each item were merged in turn.
    const inTurn = mergeUser(mergeUser(stored, { id: '1', displayName: 'Anne', onPremisesExtensionAttributes: { extensionAttribute1: 'CC2' } }, custom), { id: '1', department: 'Sales', onPremisesExtensionAttributes: { extensionAttribute1: null } }, custom);
    expect(withChange(stored, changes.get('1'), custom)).toEqual(inTurn);
    expect(inTurn).toEqual({ id: '1', upn: 'a@x', displayName: 'Anne', attributes: { dept: 'Sales' } });
    // Removed, then back in the same round: nothing stored carries over.
    noteChange(changes, { id: '1', '@removed': { reason: 'changed' } });
    expect(withChange(stored, changes.get('1'), custom)).toBeUndefined();
    noteChange(changes, { id: '1', userPrincipalName: 'b@x' });
    expect(withChange(stored, changes.get('1'), custom)).toEqual({ id: '1', upn: 'b@x', attributes: {} });
    // Users the round does not name stay as stored; one it only removes is gone.
    expect(withChange(stored, changes.get('2'), custom)).toBe(stored);
    noteChange(changes, { id: '3', '@removed': { reason: 'deleted' } });
    expect(withChange(undefined, changes.get('3'), custom)).toBeUndefined();
  });

  it('tell guests and disabled accounts, as far as the items say, and admit them only when asked', () => {
    const guest = mergeUser(undefined, { id: 'g', userPrincipalName: 'ann_fabrikam.com#EXT#@contoso.com' }, []);
    expect(guest.guest).toBe(true);
    expect(mergeUser(undefined, { id: 'h', userPrincipalName: 'h@contoso.com', userType: 'Guest' }, []).guest).toBe(true);
    const member = mergeUser(undefined, { id: 'm', userPrincipalName: 'm@contoso.com', userType: 'Member', accountEnabled: true }, []);
    expect([member.guest, member.disabled]).toEqual([undefined, undefined]);
    // A change without accountEnabled keeps what was known; one with it decides.
    const disabled = mergeUser(member, { id: 'm', accountEnabled: false }, []);
    expect(disabled.disabled).toBe(true);
    expect(mergeUser(disabled, { id: 'm', displayName: 'M' }, []).disabled).toBe(true);
    expect(mergeUser(disabled, { id: 'm', accountEnabled: true }, []).disabled).toBeUndefined();
    const none = { guests: false, disabled: false };
    expect([admitted(member, none), admitted(guest, none), admitted(disabled, none)]).toEqual([true, false, false]);
    expect([admitted(guest, { guests: true, disabled: false }), admitted(disabled, { guests: false, disabled: true })]).toEqual([true, true]);
  });

  it('add and remove user members across pages, ignoring other member types', () => {
    let g = mergeGroup(undefined, { id: 'g', displayName: 'VPN', 'members@delta': [{ '@odata.type': '#microsoft.graph.user', id: 'u1' }, { '@odata.type': '#microsoft.graph.group', id: 'g2' }] });
    g = mergeGroup(g, { id: 'g', 'members@delta': [{ '@odata.type': '#microsoft.graph.user', id: 'u2' }] });
    expect(g).toEqual({ name: 'VPN', members: new Set(['u1', 'u2']) });
    g = mergeGroup(g, { id: 'g', 'members@delta': [{ '@odata.type': '#microsoft.graph.user', id: 'u1', '@removed': { reason: 'deleted' } }] });
    expect(g.members).toEqual(new Set(['u2']));
    expect(groupsByUser({ a: { name: 'B', members: ['u2'] }, b: { name: 'A', members: ['u2'] } }).get('u2')).toEqual({ names: ['A', 'B'], ids: ['b', 'a'] });
    // Two groups of one name stay two.
    expect(groupsByUser({ y: { name: 'Sales', members: ['u1'] }, x: { name: 'Sales', members: ['u1'] } }).get('u1')).toEqual({ names: ['Sales', 'Sales'], ids: ['x', 'y'] });
  });

  it('read Retry-After in seconds or as a date', () => {
    expect(retryAfterMs('7')).toBe(7000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(null)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  it("find a page's nextLink ahead of its value, and nothing that only looks like one", () => {
    const link = 'https://graph.microsoft.com/v1.0/users/delta?$skiptoken=a\u0026b';
    const page = (members: Record<string, unknown>) => JSON.stringify({ '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users', ...members });
    expect(leadingNextLink(page({ '@odata.nextLink': link, value: [{ id: '1' }] }))).toBe(link);
    expect(leadingNextLink(`{ "@odata.nextLink" : "${link.replace('&', '\\u0026')}", "value": [] }`)).toBe(link);
    // After value (so not ahead), only in a string, or a deltaLink: none.
    expect(leadingNextLink(page({ value: [{ id: '1' }], '@odata.nextLink': link }))).toBeUndefined();
    expect(leadingNextLink(page({ value: [{ id: '1', displayName: '"@odata.nextLink": "https://evil"' }] }))).toBeUndefined();
    expect(leadingNextLink(page({ '@odata.deltaLink': link, value: [] }))).toBeUndefined();
    expect(leadingNextLink('{"@odata.nextLink": "unterminated')).toBeUndefined();
  });
});

describe('LDAP names', () => {
  it('compare one DN however it is spelled: case, spaces, escapes, quotes, UTF-8 in hex, the order of a multi-valued RDN', () => {
    const same = (...dns: string[]) => expect(new Set(dns.map(dnKey)).size, dns.join(' | ')).toBe(1);
    same('uid=jdoe,ou=People,dc=example,dc=test', 'UID=JDoe, ou=people , dc=EXAMPLE;dc=test', 'uid = jdoe,ou=people,dc=example,dc=test');
    same('cn=Doe\\, Jane+uid=jdoe,o=x', 'uid=jdoe+cn=Doe\\2C Jane,o=x', 'cn="Doe, Jane" + uid=JDOE,o=x', 'cn=Doe\\,   Jane+uid=jdoe, o=x');
    same('cn=Müller\\2C Hans,o=x', 'cn=M\\C3\\BCller\\, Hans,o=x', 'CN=MÜLLER\\, HANS,O=X', 'cn=Mu\u0308ller\\, Hans,o=x');
    same('cn=Chen\\+Wu,o=x', 'cn=Chen\\2BWu,o=x');
  });

  it('tell DNs apart that only look alike: an escaped separator is part of the value', () => {
    expect(dnKey('cn=a\\,ou=b')).not.toBe(dnKey('cn=a,ou=b'));
    expect(dnKey('cn=a\\+uid=b,o=x')).not.toBe(dnKey('cn=a+uid=b,o=x'));
    expect(dnKey('cn=a b,o=x')).not.toBe(dnKey('cn=ab,o=x'));
    expect(dnKey('uid=jdoe,ou=staff,o=x')).not.toBe(dnKey('uid=jdoe,ou=contractors,o=x'));
  });

  it("keep what does not parse as a DN, without case", () => {
    expect(dnKey('not a DN')).toBe('not a dn');
    expect(dnKey('cn=trailing\\')).toBe('cn=trailing\\');
  });

  it("read a member value as a DN without uniqueMember's optional uid, or as a uid", () => {
    expect(memberDnKey("uid=jdoe+cn=Doe\\2C Jane, ou=Staff#'0'B")).toBe(dnKey('cn=Doe\\, Jane+uid=jdoe,ou=staff'));
    expect(memberDnKey("UID=KLEE,o=x#'1011'B")).toBe('uid=klee,o=x');
    expect(memberDnKey('uid=klee,o=x')).toBe('uid=klee,o=x');
    // An escaped # is the value's own.
    expect(memberDnKey("cn=x\\#'0'B")).toBe("cn=x#'0'b");
    // memberUid: a uid, not a DN.
    expect(memberDnKey('jdoe')).toBeUndefined();
    expect(memberDnKey('J.Doe-2')).toBeUndefined();
  });

  it('compare uids as the directory does: without case, spaces insignificant', () => {
    expect(caseIgnore('ASmith')).toBe('asmith');
    expect(caseIgnore('  Jane   Doe ')).toBe('jane doe');
    expect(caseIgnore('RENÉE')).toBe(caseIgnore('rene\u0301e'));
  });

  it('read several member attributes from one groupMember, separated by commas', () => {
    expect(memberAttributes('member')).toEqual(['member']);
    expect(memberAttributes('memberUid, uniqueMember,member')).toEqual(['memberUid', 'uniqueMember', 'member']);
  });

  it("say which entries were skipped for want of the id attribute or for another's id, and how many more", () => {
    const none = { count: 0, first: [] };
    expect(describeSkipped('uid', { noId: none, sameId: none })).toBeUndefined();
    expect(describeSkipped('employeeNumber', { noId: { count: 1, first: ['uid=backup,o=x'] }, sameId: none })).toBe(
      '1 entry has no employeeNumber (the id attribute) and was skipped: uid=backup,o=x; userFilter can leave out entries that are not users',
    );
    expect(describeSkipped('uid', { noId: { count: 5, first: ['cn=a,o=x', 'cn=b,o=x', 'cn=c,o=x'] }, sameId: { count: 1, first: ['cn=d,o=x'] } })).toBe(
      '5 entries have no uid (the id attribute) and were skipped: cn=a,o=x; cn=b,o=x; cn=c,o=x and 2 more; userFilter can leave out entries that are not users. ' +
        '1 entry has the uid of an entry read before it and was skipped: cn=d,o=x; the first keeps the id; each user needs a uid of its own',
    );
  });
});

describe('schedule and progress', () => {
  const record = (spec: Record<string, unknown>, status: Record<string, unknown> = {}): StoredRecord =>
    ({ tenant: 't', kind: 'LdapSource', name: 'l', spec, status, managed: true }) as unknown as StoredRecord;

  it('syncs a source its interval after the last sync, at once when never synced, never when disabled', () => {
    expect(nextSyncAt(record({ syncInterval: '1h' }))).toBe(0);
    expect(nextSyncAt(record({ syncInterval: '1h' }, { lastSyncTime: '2026-01-01T00:00:00Z' }))).toBe(Date.parse('2026-01-01T01:00:00Z'));
    expect(nextSyncAt(record({ syncInterval: '1h', enabled: false }))).toBeUndefined();
    expect(nextSyncAt(record({ syncInterval: '1h', suspend: true }))).toBeUndefined();
    expect(nextSyncAt(record({}))).toBeUndefined();
  });

  it('draws a bar against the last count, or a count alone', () => {
    expect(progressLine('S', 500, 1000, 1000)).toBe('S 500 / ~1,000 users read, 500/s [###############               ]');
    expect(progressLine('C:', 20, 2000, 10, { unit: 'identity certificates', estimated: false })).toBe('C: 20 / 2,000 identity certificates, 2,000/s [                              ]');
    expect(progressLine('S', 1500, undefined, 500)).toBe('S 1,500 users read, 3,000/s');
    expect(progressLine('S', 3000, 1000, 1000)).toContain('[##############################]');
  });
});
