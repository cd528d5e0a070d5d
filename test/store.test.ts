// The tenant store: the same behaviour on SQLite and on a real PostgreSQL server.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { MasterKey } from '../src/store/master-key.js';
import { ApplyLockHeld, SharedTenantLocks, takeApplyLocks } from '../src/store/apply-lock.js';
import { SCHEMA_VERSION } from '../src/store/migrations.js';
import { runSourceSync } from '../src/providers/source-sync.js';
import { providerContext } from '../src/engine/context.js';
import { openStore, parseStoreSpec, type StoreSpec } from '../src/store/open.js';
import type { Store, StoredRecord, UserStage } from '../src/store/types.js';
import { startPostgres, type PostgresServer } from './servers/postgres.js';
import { DIGEST_CHUNK, SYNC_HISTORY } from '../src/store/sql-store.js';
import { userColumns, userDigest } from '../src/store/user-digest.js';
import { doc, workspace } from './support/workspace.js';
import { userField, userFieldRead } from '../src/identity/user-fields.js';
import type { DirectoryUser, UserFields } from '../src/api/index.js';

let postgres: PostgresServer;
const dir = mkdtempSync(join(tmpdir(), 'mdmops-store-'));
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const record_ = (kind: string, name: string): StoredRecord => ({ ...record(name), kind, status: {} });
const record = (name: string, extra: Partial<StoredRecord> = {}): StoredRecord => ({
  tenant: 'default',
  kind: 'Space',
  name,
  spec: { displayName: name, priority: 1, nested: { list: [1, 'two'] } },
  specHash: 'h1',
  desiredHash: 'd1',
  generation: 1,
  files: {},
  secrets: { 'spec.x': null },
  status: { conditions: [] },
  managed: true,
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...extra,
});

let counter = 0;
const backends: [string, () => StoreSpec][] = [
  ['SQLite', () => parseStoreSpec(`sqlite:${join(dir, `store-${++counter}.db`)}`)],
  ['PostgreSQL', () => ({ backend: 'postgres', url: postgres.url })],
];

describe.each(backends)('%s store', (backendName, specOf) => {
  let spec: StoreSpec;
  let store: Store;
  beforeAll(async () => {
    spec = specOf();
    store = await openStore(spec);
  });
  afterAll(() => store.close());
  /** The store as the mdmops of schema `version` left it, opened by this one. */
  const asOlder = async (version: number) => {
    const { sqliteDriver } = await import('../src/store/sqlite.js');
    const { postgresDriver } = await import('../src/store/postgres.js');
    const driver = spec.backend === 'sqlite' ? sqliteDriver(spec.path) : postgresDriver(spec.url);
    await rollBack(driver, version);
    await driver.close();
    return openStore(spec);
  };

  it('is migrated to the current schema, and opens again unchanged', async () => {
    expect(await store.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
    const again = await openStore(spec);
    expect(await again.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
    await again.close();
  });

  it('keeps records, inventory and audit entries', async () => {
    await store.commit([
      { op: 'putRecord', record: record('a') },
      { op: 'putRecord', record: record('b', { managed: false, tenant: 'other' }) },
      { op: 'putInventory', entry: { tenant: 'default', kind: 'Space', name: 'a', source: 'git', revision: 'r1', appliedAt: 'now' } },
      { op: 'audit', entry: { at: 't1', tenant: 'default', kind: 'Space', name: 'a', action: 'create', source: 'git', revision: 'r1', actor: 'me', detail: { fields: ['spec.priority'] } } },
    ]);
    expect(await store.getRecord({ tenant: 'default', kind: 'Space', name: 'a' })).toEqual(record('a'));
    expect((await store.listRecords({ tenant: 'other' })).map((r) => [r.name, r.managed])).toEqual([['b', false]]);
    expect(await store.listInventory('git')).toEqual([{ tenant: 'default', kind: 'Space', name: 'a', source: 'git', revision: 'r1', appliedAt: 'now' }]);
    expect((await store.listAudit(1))[0]).toMatchObject({ action: 'create', detail: { fields: ['spec.priority'] } });
    await store.commit([{ op: 'putRecord', record: record('a', { generation: 2 }) }]);
    expect((await store.getRecord({ tenant: 'default', kind: 'Space', name: 'a' }))!.generation).toBe(2);
  });

  it("puts a record's status alone, keeping a spec written since it was read, and makes no record", async () => {
    const id = { tenant: 'default', kind: 'Space', name: 'status-only' };
    await store.commit([{ op: 'putRecord', record: record('status-only') }]);
    // An apply changes the spec while a sync works from the record it read before.
    await store.commit([{ op: 'putRecord', record: record('status-only', { spec: { displayName: 'applied meanwhile' }, generation: 2 }) }]);
    await store.commit([{ op: 'putStatus', id, status: { lastSyncTime: 't2' }, updatedAt: 't2' }]);
    expect(await store.getRecord(id)).toMatchObject({ spec: { displayName: 'applied meanwhile' }, generation: 2, status: { lastSyncTime: 't2' }, updatedAt: 't2' });
    await store.commit([{ op: 'putStatus', id: { ...id, name: 'never-made' }, status: {}, updatedAt: 't3' }]);
    expect(await store.getRecord({ ...id, name: 'never-made' })).toBeUndefined();
    await store.commit([{ op: 'deleteRecord', id }]);
  });

  it('commits a batch whole or not at all', async () => {
    const before = store.writes;
    await expect(
      store.commit([
        { op: 'putRecord', record: record('half') },
        { op: 'putBlob', id: { tenant: 'default', kind: 'Space', name: 'half' }, purpose: 'k', sealed: null as unknown as Buffer },
      ]),
    ).rejects.toThrow();
    expect(await store.getRecord({ tenant: 'default', kind: 'Space', name: 'half' })).toBeUndefined();
    expect(store.writes).toBe(before);
    // Later commits are not held up by the failed one.
    await store.commit([{ op: 'deleteRecord', id: { tenant: 'other', kind: 'Space', name: 'b' } }]);
    expect(await store.listRecords({ tenant: 'other' })).toEqual([]);
  });

  it('runs concurrent commits one at a time, losing none', async () => {
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.commit([{ op: 'putRecord', record: record(`c${i}`) }, { op: 'putInventory', entry: { tenant: 'default', kind: 'Space', name: `c${i}`, source: 's', revision: 'r', appliedAt: 'now' } }])));
    expect((await store.listInventory('s')).length).toBe(25);
  });

  it('counts a notification seen again, keeps when it was first seen, and resolves it', async () => {
    const id = { tenant: 'default', kind: 'Connector', name: 'paris' };
    const note = (at: string) => ({ op: 'notify' as const, notification: { ...id, reason: 'AgentNotConnected', severity: 'Warning' as const, message: `seen ${at}`, lastSeen: at } });
    await store.commit([note('2026-01-01T00:00:00Z')]);
    await store.commit([note('2026-01-02T00:00:00Z')]);
    let [n] = (await store.listNotifications({ active: true })).filter((x) => x.name === 'paris');
    expect(n).toMatchObject({ count: 2, firstSeen: '2026-01-01T00:00:00Z', lastSeen: '2026-01-02T00:00:00Z', message: 'seen 2026-01-02T00:00:00Z', active: true });
    await store.commit([{ op: 'resolveNotification', id, reason: 'AgentNotConnected' }]);
    expect((await store.listNotifications({ active: true })).filter((x) => x.name === 'paris')).toEqual([]);
    [n] = (await store.listNotifications()).filter((x) => x.name === 'paris');
    expect(n!.active).toBe(false);
  });

  it('keeps key material sealed: opens only with the right key and in the right place', async () => {
    const key = new MasterKey(randomBytes(32));
    const id = { tenant: 'default', kind: 'CertificateAuthority', name: 'root' };
    const secret = Buffer.from('-----BEGIN PRIVATE KEY----- not really');
    await store.commit([{ op: 'putBlob', id, purpose: 'private-key', sealed: key.seal(secret, 'ca/root#private-key') }]);
    const sealed = (await store.getBlob(id, 'private-key'))!;
    expect(sealed.includes(secret)).toBe(false);
    expect(key.open(sealed, 'ca/root#private-key')).toEqual(secret);
    expect(() => key.open(sealed, 'ca/other#private-key')).toThrow(/does not open with this master key/);
    expect(() => new MasterKey(randomBytes(32)).open(sealed, 'ca/root#private-key')).toThrow(/does not open/);
    expect(await store.listBlobs(id)).toEqual(['private-key']);
    await store.commit([{ op: 'deleteBlobs', id }]);
    expect(await store.getBlob(id, 'private-key')).toBeUndefined();
  });

  it('keeps directory users and issued certificates, and removes them', async () => {
    const user = { tenant: 't', id: 'u1', source: 'LdapSource/corp', upn: 'zoë@example.com', firstName: 'Zoë', lastName: 'Ångström', groups: ['g1'], attributes: { dept: ['a', 'b'] }, labels: { os: 'ios' } };
    const cert = {
      tenant: 't', configuration: 'wifi', userId: 'u1', serial: '01', subject: 'CN=zoë', notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2027-01-01T00:00:00.000Z',
      fingerprintSha256: 'ab', contentHash: 'c1', issuerKey: 'k1', certificate: randomBytes(40), issuedAt: '2026-01-01T00:00:00.000Z',
    };
    await store.commit([{ op: 'putUser', user }, { op: 'putUser', user: { ...user, id: 'u2', email: 'x@example.com' } }, { op: 'putCertificate', certificate: cert }]);
    expect(await store.listUsers('t')).toEqual([user, { ...user, id: 'u2', email: 'x@example.com' }]);
    // The digests SQL computes are those a sync computes of the users it reads: equal when nothing changed.
    const digests = await store.listUserDigests('t', 'LdapSource/corp');
    expect(digests).toEqual(new Map([['u1', userDigest(user)], ['u2', userDigest({ ...user, id: 'u2', email: 'x@example.com' })]]));
    expect(digests.get('u1')).not.toBe(userDigest({ ...user, displayName: 'Zoë' }));
    expect(digests.get('u1')).not.toBe(userDigest({ ...user, lastName: 'Ångström-Berg' }));
    expect(digests.get('u1')).not.toBe(userDigest({ ...user, firstName: undefined }));
    expect(await store.listUserDigests('t', 'EntraIdSource/x')).toEqual(new Map());
    expect(await store.listCertificates({ tenant: 't' })).toEqual([cert]);
    const sealedKey = randomBytes(64);
    await store.commit([{ op: 'putCertificate', certificate: { ...cert, serial: '02', sealedKey, chain: 'PEM' } }, { op: 'deleteUser', tenant: 't', id: 'u2' }]);
    expect(await store.listCertificates({ tenant: 't', configuration: 'wifi' })).toEqual([{ ...cert, serial: '02', sealedKey, chain: 'PEM' }]);
    const { certificate: _, ...facts } = cert;
    expect(await store.listCertificateFacts({ tenant: 't', configuration: 'wifi' })).toEqual([{ ...facts, serial: '02' }]);
    expect(await store.listCertificateFacts({ tenant: 'other' })).toEqual([]);
    expect((await store.listUsers('t')).map((u) => u.id)).toEqual(['u1']);
    await store.commit([{ op: 'deleteCertificates', tenant: 't', configuration: 'wifi' }]);
    expect(await store.listCertificates({ tenant: 't' })).toEqual([]);
  });

  it('claims, confirms and lets go of the anchors a resource provisioned, by tenant and resource', async () => {
    const id = { tenant: 'own', kind: 'SqlProvisioning', name: 'hr' };
    const neighbours = [{ ...id, name: 'other' }, { ...id, tenant: 'own-2' }];
    // Anchors as a table may hold them: quotes, a comma, a bracket, characters outside ASCII.
    const anchors = ['plain', 'quo"te', "it's", 'a,b', '[x]', 'Ü-é', ...Array.from({ length: 3000 }, (_, i) => `n${i}`)];
    for (const other of neighbours) await store.commit([{ op: 'putProvisioned', id: other, anchors: ['plain'], confirmed: true }]);
    await store.commit([{ op: 'putProvisioned', id, anchors, confirmed: false }]);
    await store.commit([{ op: 'confirmProvisioned', id, anchors: anchors.slice(0, 4) }]);
    await store.commit([{ op: 'deleteProvisioned', id, anchors: ['a,b', 'n0'] }]);
    const owned = await store.listProvisioned(id);
    expect(owned.size).toBe(anchors.length - 2);
    expect([...owned].filter(([, confirmed]) => confirmed).map(([a]) => a).sort()).toEqual(['it\'s', 'plain', 'quo"te'].sort());
    expect(owned.has('Ü-é') && !owned.has('a,b') && !owned.has('n0')).toBe(true);
    // Claiming again as confirmed (a row taken over) confirms; the other resources' anchors are untouched.
    await store.commit([{ op: 'putProvisioned', id, anchors: ['[x]'], confirmed: true }]);
    expect((await store.listProvisioned(id)).get('[x]')).toBe(true);
    for (const other of neighbours) expect([...(await store.listProvisioned(other))]).toEqual([['plain', true]]);
    await store.commit([{ op: 'deleteProvisioned', id }]);
    expect((await store.listProvisioned(id)).size).toBe(0);
  });

  it("reads a source's users' values as userField gives them, custom attributes taken out of their JSON by the database", async () => {
    const tenant = 'values';
    const source = 'EntraIdSource/x';
    const user = (id: string, extra: Partial<DirectoryUser>): DirectoryUser => ({ tenant, id: `${source}/${id}`, source, upn: `${id}@example.com`, groups: [], attributes: {}, labels: {}, ...extra });
    const users = [
      user('a', { email: 'a@example.com', firstName: 'Ä', lastName: "O'Neil", displayName: 'A', attributes: { dept: 'Sales', codes: ['c1', 'c2'], quote: 'say "hi", ok' } }),
      user('b', { email: '', attributes: { dept: '', codes: [] } }),
      user('c', { attributes: { codes: ['', 'x'] } }),
      { ...user('d', {}), id: 'no-prefix' },
    ];
    await store.commit([...users, user('e', { tenant: 'values-2' })].map((u) => ({ op: 'putUser' as const, user: u })));
    const fields = ['uid', 'userUPN', 'userEmailAddress', 'firstName', 'lastName', 'displayName', 'dept', 'codes', 'quote', 'absent', 'not a name'];
    const reads = fields.map((f) => userFieldRead(f, source));
    const read: (string | undefined)[][] = [];
    await store.forEachUserValues(tenant, source, reads.map((r) => r.value), (row) => read.push(reads.map((r, i) => r.field(row[i + 1]!))));
    const expected: (string | undefined)[][] = [];
    await store.forEachUser(tenant, source, (u) => expected.push(fields.map((f) => userField(u, f))));
    expect(read).toEqual(expected);
    expect(read[0]).toEqual(['a', 'a@example.com', 'a@example.com', 'Ä', "O'Neil", 'A', 'Sales', 'c1', 'say "hi", ok', undefined, undefined]);
    expect(read.length).toBe(4);
    // Over several chunks, each row changed by the caller as it comes (DesiredRows makes it its own).
    const stage = await store.stageUsers!();
    for (let i = 0; i < DIGEST_CHUNK + 1; i++) stage.put(user(`bulk-${i}`, {}), userColumns(user(`bulk-${i}`, {})));
    await store.commit([{ op: 'putStagedUsers', stage }]);
    await stage.close();
    const uids = new Set<string>();
    await store.forEachUserValues(tenant, source, [{ field: 'id' }], (row) => {
      uids.add(row[1]!);
      row[0] = null;
    });
    expect(uids.size).toBe(4 + DIGEST_CHUNK + 1);
  });

  it("counts the writes of each source's users, and keeps a resource's provisioned state until it lets go of its anchors", async () => {
    const tenant = 'versions';
    const user = (id: string, source: string): DirectoryUser => ({ tenant, id, source, upn: `${id}@example.com`, groups: [], attributes: {}, labels: {} });
    const versions = async () => Promise.all([store.userVersion(tenant, 'A/a'), store.userVersion(tenant, 'B/b'), store.userVersion('versions-2', 'A/a')]);
    expect(await versions()).toEqual([0, 0, 0]);
    // One more a commit that puts users of a source, however many.
    await store.commit([{ op: 'putUser', user: user('u1', 'A/a') }, { op: 'putUser', user: user('u2', 'A/a') }]);
    expect(await versions()).toEqual([1, 0, 0]);
    // Moved to another source: both change.
    await store.commit([{ op: 'putUser', user: user('u2', 'B/b') }]);
    expect(await versions()).toEqual([2, 1, 0]);
    await store.commit([{ op: 'deleteUser', tenant, id: 'u1' }]);
    expect(await versions()).toEqual([3, 1, 0]);
    // Staged: put, and moved back (the trigger counts the source it leaves).
    const stage = await store.stageUsers!();
    stage.put(user('u3', 'A/a'), userColumns(user('u3', 'A/a')));
    stage.put(user('u2', 'A/a'), userColumns(user('u2', 'A/a')));
    await store.commit([{ op: 'putStagedUsers', stage }]);
    await stage.close();
    expect(await versions()).toEqual([4, 2, 0]);
    // A stage's sources count as users are staged: one taken out again still counts (the next
    // provisioning run reads every user once more; no change goes uncounted).
    const out = await store.stageUsers!();
    out.put(user('u4', 'A/a'), userColumns(user('u4', 'A/a')));
    out.unstage(tenant, 'u4');
    await store.commit([{ op: 'putStagedUsers', stage: out }]);
    await out.close();
    expect(await versions()).toEqual([5, 2, 0]);
    // Another commit of nothing of theirs: the same.
    await store.commit([{ op: 'setMeta', key: 'unrelated', value: '1' }]);
    expect(await versions()).toEqual([5, 2, 0]);

    const id = { tenant, kind: 'SqlProvisioning', name: 'hr' };
    const state = { userVersion: 5, layout: 'l1', table: '3:42', outcome: { rowCount: 3, conflictAnchors: ["it's"] } };
    await store.commit([{ op: 'putProvisionedState', id, state }, { op: 'putProvisioned', id, anchors: ['a'], confirmed: true }]);
    expect(await store.getProvisionedState(id)).toEqual(state);
    expect(await store.getProvisionedState({ ...id, tenant: 'versions-2' })).toBeUndefined();
    await store.commit([{ op: 'deleteProvisionedState', id }]);
    expect(await store.getProvisionedState(id)).toBeUndefined();
    await store.commit([{ op: 'putProvisionedState', id, state }]);
    await store.commit([{ op: 'deleteProvisioned', id }]);
    expect(await store.getProvisionedState(id)).toBeUndefined();
  });

  it('lists the digests of every user of a source, and walks its users, over several chunks', async () => {
    // Ids in an order neither of insertion nor of number, and another source's users between them.
    const n = DIGEST_CHUNK * 2 + 3;
    const mine = Array.from({ length: n }, (_, i): DirectoryUser => ({ tenant: 'chunks', id: `${(i * 7919) % n}-Ü${i % 3 ? 'a' : 'B'}`, source: 'LdapSource/many', upn: `u${i}@example.com`, ...(i % 2 ? { firstName: `F${i}` } : { lastName: `L${i}` }), groups: [], attributes: {}, labels: {} }));
    const theirs = mine.filter((_, i) => i % 10 === 0).map((u) => ({ ...u, id: `${u.id}-other`, source: 'EntraIdSource/other' }));
    await store.commit([...mine, ...theirs].map((user) => ({ op: 'putUser' as const, user })));
    const digests = await store.listUserDigests('chunks', 'LdapSource/many');
    expect(digests.size).toBe(n);
    for (const u of mine) expect(digests.get(u.id)).toBe(userDigest(u));
    expect((await store.listUserDigests('chunks', 'EntraIdSource/other')).size).toBe(theirs.length);
    // Walking them gives each once, with its own fields (no groups or labels).
    const walked: UserFields[] = [];
    await store.forEachUser('chunks', 'LdapSource/many', (u) => walked.push(u));
    const byId = (a: UserFields, b: UserFields) => (a.id < b.id ? -1 : 1);
    expect(walked.sort(byId)).toEqual([...mine].map(({ groups: _groups, labels: _labels, ...own }) => own).sort(byId));
  });

  it('stages users without locking the tenant, and puts them with the commit that ends the round, or never', async () => {
    const u = (i: number, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({ tenant: 'staged', id: `s${i}`, source: 'LdapSource/staged', upn: `s${i}@example.com`, groups: ['g'], attributes: { a: 'Ü' }, labels: {}, ...extra });
    const open: UserStage[] = [];
    const stageOf = async (users: DirectoryUser[]) => {
      const stage = await store.stageUsers!();
      open.push(stage);
      for (const user of users) stage.put(user, userColumns(user));
      return stage;
    };
    // Stages are closed whatever happens: an open one holds a client of PostgreSQL's pool.
    onTestFinished(() => Promise.all(open.map((st) => st.close())).then(() => undefined));
    // More users than one statement stages, one of them staged twice and one taken out again.
    const users = Array.from({ length: 250 }, (_, i) => u(i));
    const stage = await stageOf(users);
    stage.put(u(7, { displayName: 'Second', firstName: 'Sieben', lastName: 'Zweite' }), userColumns(u(7, { displayName: 'Second', firstName: 'Sieben', lastName: 'Zweite' })));
    stage.unstage('staged', 's9');
    stage.unstage('staged', 's11');
    stage.put(u(11, { displayName: 'Back' }), userColumns(u(11, { displayName: 'Back' })));
    // Again while still waiting for its statement; and the same id in another tenant.
    for (const again of [u(240, { displayName: 'Buffered' }), u(241, { tenant: 'staged-other' }), u(242), u(242, { displayName: 'Twice' })]) stage.put(again, userColumns(again));
    // A second round, meanwhile, has a stage of its own.
    const other = await stageOf([u(1000)]);
    // Staged is not stored, and another connection commits meanwhile: staging holds no lock.
    expect(await store.listUsers('staged')).toEqual([]);
    const elsewhere = await openStore(spec);
    try {
      await elsewhere.commit([{ op: 'putUser', user: u(500) }]);
    } finally {
      await elsewhere.close();
    }
    // A commit that fails puts none of them.
    await expect(store.commit([{ op: 'putStagedUsers', stage }, { op: 'putBlob', id: { tenant: 'staged', kind: 'Space', name: 'x' }, purpose: 'k', sealed: null as unknown as Buffer }])).rejects.toThrow();
    expect((await store.listUsers('staged')).map((x) => x.id)).toEqual(['s500']);
    await store.commit([{ op: 'putStagedUsers', stage }, { op: 'setMeta', key: 'staged', value: 'yes' }]);
    await stage.close();
    const changed: Record<string, DirectoryUser> = { s7: u(7, { displayName: 'Second', firstName: 'Sieben', lastName: 'Zweite' }), s11: u(11, { displayName: 'Back' }), s240: u(240, { displayName: 'Buffered' }), s242: u(242, { displayName: 'Twice' }) };
    const expected = [...users.filter((x) => x.id !== 's9').map((x) => changed[x.id] ?? x), u(500)].sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(await store.listUsers('staged')).toEqual(expected);
    expect(await store.listUsers('staged-other')).toEqual([u(241, { tenant: 'staged-other' })]);
    expect(await store.getMeta('staged')).toBe('yes');
    // A stage closed without a commit leaves nothing behind, and the next stage starts empty; a user
    // taken out that was never staged is nothing to move.
    await other.close();
    const empty = await stageOf([]);
    empty.unstage('staged', 'never-staged');
    await store.commit([{ op: 'putStagedUsers', stage: empty }]);
    await empty.close();
    expect(await store.listUsers('staged')).toEqual(expected);
    // A stage is committed by its own store only.
    const again = await openStore(spec);
    const foreign = await again.stageUsers!();
    try {
      await expect(store.commit([{ op: 'putStagedUsers', stage: foreign }])).rejects.toThrow(/store that staged them/);
    } finally {
      await foreign.close();
      await again.close();
    }
  });

  it('runs identity sync rounds: staged users put, changed and removed, and nothing of a failed or stopped round', async () => {
    const engine = providerContext({ store, key: new MasterKey(randomBytes(32)), providers: undefined as never });
    let record: StoredRecord = { ...record_('LdapSource', 'rounds'), tenant: 'rounds', spec: { autoInviteUsers: true, customAttributes: [{ name: 'dept' }], managedAppleIds: { mode: 'Schema', schema: 'UserEmailAddress', includeAppleIdSubdomain: false } } };
    await store.commit([{ op: 'putRecord', record }]); // applied before it is synced, as a source always is
    const u = (i: number, extra: Partial<DirectoryUser> = {}): DirectoryUser => ({ tenant: 'rounds', id: `LdapSource/rounds/u${i}`, source: 'LdapSource/rounds', upn: `u${i}@example.com`, email: `u${i}@example.com`, firstName: `U${i}`, lastName: 'Rounds', groups: [], attributes: { dept: 'R&D' }, labels: {}, ...extra });
    const round = async (users: DirectoryUser[], opts: { failAt?: number; allowMassDelete?: boolean; restartWith?: DirectoryUser[] } = {}) => {
      const report = await runSourceSync(engine, record, {
        prefix: 'Ldap',
        where: 'ldap://test',
        async read(_state, { accept, restart }) {
          // restartWith: these are handed first, then forgotten (as a reader whose user came again).
          for (const u of opts.restartWith ?? []) accept(u);
          if (opts.restartWith) await restart();
          for (let i = 0; i < users.length; i++) {
            if (i === opts.failAt) throw new Error('the connection closed before the search ended');
            accept(users[i]!);
            if (i % 100 === 0) await new Promise((r) => setImmediate(r));
          }
          return { groupCount: 0 };
        },
      }, { actor: 'test', allowMassDelete: opts.allowMassDelete });
      record = (await store.getRecord({ tenant: 'rounds', kind: 'LdapSource', name: 'rounds' }))!;
      return report;
    };
    const stored = async () => (await store.listUsers('rounds')).map((x) => `${x.id.split('/')[2]} ${x.displayName ?? '-'} ${x.appleId ?? '-'}`).sort();
    const first = Array.from({ length: 1000 }, (_, i) => u(i));
    // u1 and u2 want the same Apple ID: neither gets it.
    first[2] = u(2, { email: 'U1@example.com' });
    expect(await round(first)).toMatchObject({ added: 1000, updated: 0, removed: 0, userCount: 1000 });
    expect((await stored()).slice(0, 4)).toEqual(['u0 - u0@example.com', 'u1 - -', 'u10 - u10@example.com', 'u100 - u100@example.com']);
    expect(await stored()).toContain('u2 - -');
    expect((await store.listInvitations('rounds')).length).toBe(1000);
    // A round that fails mid-read, or one that would delete too many, changes no user.
    const before = await stored();
    expect((await round(first.map((x) => ({ ...x, displayName: 'X' })), { failAt: 700 })).error).toContain('connection closed');
    expect((await round(first.slice(0, 800))).blocked).toContain('would delete 200 of 1000 users');
    expect(await round([])).toMatchObject({ blocked: expect.stringContaining('returned no users'), userCount: 1000 });
    expect(await stored()).toEqual(before);
    // Changes (u6's surname only), additions and removals; u1 gets its Apple ID once u2 no longer claims it.
    const next = [...first.slice(0, 950).map((x, i) => (i === 5 ? { ...x, displayName: 'Five' } : i === 6 ? { ...x, lastName: 'Renamed' } : i === 2 ? u(2) : x)), u(2000)];
    expect(await round(next)).toMatchObject({ added: 1, updated: 4, removed: 50, userCount: 951 });
    expect((await store.listUsers('rounds')).find((x) => x.id.endsWith('/u6'))).toMatchObject({ firstName: 'U6', lastName: 'Renamed' });
    expect((await stored()).slice(0, 3)).toEqual(['u0 - u0@example.com', 'u1 - u1@example.com', 'u10 - u10@example.com']);
    expect(await stored()).toContain('u5 Five u5@example.com');
    expect(await stored()).not.toContain('u999 - u999@example.com');
    expect((await store.listInvitations('rounds')).length).toBe(1001);
    expect(await round(next)).toMatchObject({ added: 0, updated: 0, removed: 0, userCount: 951 });
    // A restart while the stored users are still being listed: the listing, ending in the middle of
    // the restart, compares with the new round (the old one's stage is closed).
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let stages = 0;
    const gated = Object.create(store, {
      listUserDigests: { value: async (...args: [string, string]) => (await gate, store.listUserDigests(...args)) },
      stageUsers: {
        value: async () => {
          // The second stage is the restart's: the listing ends while it is being made.
          if (++stages === 2) {
            release();
            await new Promise((r) => setTimeout(r, 50));
          }
          return store.stageUsers!();
        },
      },
    }) as Store;
    const racing = await runSourceSync({ ...engine, store: gated }, record, {
      prefix: 'Ldap',
      where: 'ldap://test',
      async read(_state, { accept, restart }) {
        accept(u(0, { displayName: 'Stale' }));
        await restart();
        for (const x of next) accept(x);
        return { groupCount: 0 };
      },
    }, { actor: 'test' });
    expect(racing).toMatchObject({ added: 0, updated: 0, removed: 0, userCount: 951 });
    expect(racing.error).toBeUndefined();
    record = (await store.getRecord({ tenant: 'rounds', kind: 'LdapSource', name: 'rounds' }))!;
    // A round restarted by its reader counts and writes only what it was handed after.
    const stale = next.map((x) => ({ ...x, displayName: 'Stale' }));
    expect(await round(next, { restartWith: [...stale, u(3000)] })).toMatchObject({ added: 0, updated: 0, removed: 0, userCount: 951 });
    expect((await stored()).filter((x) => x.includes('Stale') || x.startsWith('u3000 '))).toEqual([]);
    expect((await store.listInvitations('rounds')).length).toBe(1001);
    // The source's deletionThreshold, not the default: 20 of 951 (2%) is too many above 10 users.
    record = { ...record, spec: { ...record.spec, deletionThreshold: { users: 10, percent: 100 } } };
    expect((await round(next.slice(0, 931))).blocked).toContain('would delete 20 of 951 users (more than 10, or more than 100%: deletionThreshold)');
    expect(await round(next.slice(0, 941))).toMatchObject({ removed: 10, userCount: 941 });
    record = { ...record, spec: { ...record.spec, deletionThreshold: { users: 500, percent: 1 } } };
    expect((await round(next.slice(0, 931))).blocked).toContain('would delete 10 of 941 users (more than 500, or more than 1%: deletionThreshold)');
    expect(await round(next.slice(0, 932))).toMatchObject({ removed: 9, userCount: 932 });
  });

  it('upgrades a store made by an older mdmops, keeping what it holds', async () => {
    const upgraded = await asOlder(1);
    expect(await upgraded.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
    expect(await upgraded.lock('t', 'me', 1000)).toBeUndefined();
    expect(await upgraded.lock('t', 'other', 1000)).toBe('me');
    expect(await upgraded.getRecord({ tenant: 'default', kind: 'Space', name: 'a' })).toBeDefined();
    expect(await upgraded.listUsers('default')).toEqual([]);
    await upgraded.close();
  });

  it("keeps the anchors a resource provisioned through the upgrade that keys them alone on SQLite, and counts users from then on", async () => {
    const id = { tenant: 'upgraded', kind: 'SqlProvisioning', name: 'hr' };
    await store.commit([{ op: 'putProvisioned', id, anchors: ['a', 'b'], confirmed: true }, { op: 'putProvisioned', id, anchors: ['c'], confirmed: false }]);
    // As mdmops before user versions and provisioned states left it: schema version 12.
    const upgraded = await asOlder(12);
    expect([...(await upgraded.listProvisioned(id))].sort()).toEqual([['a', true], ['b', true], ['c', false]]);
    expect(await upgraded.userVersion('upgraded', 'A/a')).toBe(0);
    await upgraded.commit([{ op: 'putUser', user: { tenant: 'upgraded', id: 'u', source: 'A/a', upn: 'u@example.com', groups: [], attributes: {}, labels: {} } }]);
    expect(await upgraded.userVersion('upgraded', 'A/a')).toBe(1);
    await upgraded.close();
  });

  it('puts the tenant into the controller inventory sources of an older store, leaving other sources alone', async () => {
    const entry = (tenant: string, name: string, source: string) => ({ op: 'putInventory' as const, entry: { tenant, kind: 'Space', name, source, revision: 'generation 1', appliedAt: '2026-01-01T00:00:00.000Z' } });
    await store.commit([
      entry('tenant-a', 'eng', 'kubernetes:Space/eng'),
      entry('tenant-b', 'eng', 'kubernetes:Space/eng'),
      entry('tenant-b', 'ops', 'kubernetes:tenant-b/Space/ops'),
      entry('default', 'cli', 'default'),
    ]);
    // As mdmops before the tenant was in the source left it: schema version 4.
    const upgraded = await asOlder(4);
    const sources = (await upgraded.listInventory()).filter((e) => ['eng', 'ops', 'cli'].includes(e.name)).map((e) => `${e.tenant} ${e.name} ${e.source}`);
    expect(sources.sort()).toEqual(['default cli default', 'tenant-a eng kubernetes:tenant-a/Space/eng', 'tenant-b eng kubernetes:tenant-b/Space/eng', 'tenant-b ops kubernetes:tenant-b/Space/ops']);
    await upgraded.commit(['tenant-a', 'tenant-b', 'default'].flatMap((tenant) => ['eng', 'ops', 'cli'].map((name) => ({ op: 'deleteInventory' as const, id: { tenant, kind: 'Space', name } }))));
    await upgraded.close();
  });

  it("keeps the users of a store from before users' names, and sees a user changed once its source gives it names", async () => {
    const user: DirectoryUser = { tenant: 'names', id: 'LdapSource/old/jdoe', source: 'LdapSource/old', upn: 'jdoe@example.com', displayName: 'Jane Doe', groups: ['g'], attributes: { dept: 'R&D' }, labels: {}, appleId: 'jdoe@appleid.example.com' };
    await store.commit([{ op: 'putUser', user }]);
    // As mdmops before users' names left it: schema version 6.
    const upgraded = await asOlder(6);
    try {
      expect(await upgraded.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      expect(await upgraded.listUsers('names')).toEqual([user]);
      // Unchanged without names; changed (once: the round stores them) when the source gives them.
      const stored = (await upgraded.listUserDigests('names', 'LdapSource/old')).get(user.id);
      expect(stored).toBe(userDigest(user));
      expect(stored).not.toBe(userDigest({ ...user, firstName: 'Jane', lastName: 'Doe' }));
      await upgraded.commit([{ op: 'putUser', user: { ...user, firstName: 'Jane', lastName: 'Doe' } }]);
      expect(await upgraded.listUsers('names')).toEqual([{ ...user, firstName: 'Jane', lastName: 'Doe' }]);
      expect((await upgraded.listUserDigests('names', 'LdapSource/old')).get(user.id)).toBe(userDigest({ ...user, firstName: 'Jane', lastName: 'Doe' }));
      await upgraded.commit([{ op: 'deleteUser', tenant: 'names', id: user.id }]);
    } finally {
      await upgraded.close();
    }
  });

  const ready = (status: string, reason: string, message: string) => ({ conditions: [{ type: 'Synced', status: 'True', reason: 'ReconcileSuccess', message: '' }, { type: 'Ready', status, reason, message, observedGeneration: 1, lastTransitionTime: 't' }] });

  it('fills in the Ready of the records of a store from before it was kept beside them', async () => {
    await store.commit([
      { op: 'putRecord', record: record('up', { tenant: 'ready-fill', status: ready('False', 'CaUnreachable', 'ca.example.com: timed out') }) },
      { op: 'putRecord', record: record('fine', { tenant: 'ready-fill', status: ready('True', 'Issued', 'all issued') }) },
      { op: 'putRecord', record: record('new', { tenant: 'ready-fill', status: {} }) },
    ]);
    const upgraded = await asOlder(9);
    try {
      const { rows } = await upgraded.listRecordSummaries({ tenant: 'ready-fill', offset: 0, limit: 10 });
      expect(rows.map((r) => [r.name, r.ready, r.reason, r.message])).toEqual([
        ['fine', 'True', '', 'all issued'],
        ['new', 'Unknown', '', ''],
        ['up', 'False', 'CaUnreachable', 'ca.example.com: timed out'],
      ]);
      // A status put since keeps it.
      await upgraded.commit([{ op: 'putStatus', id: { tenant: 'ready-fill', kind: 'Space', name: 'new' }, status: ready('False', 'Pending', 'waiting'), updatedAt: 'later' }]);
      expect((await upgraded.listRecordSummaries({ tenant: 'ready-fill', ready: 'False', offset: 0, limit: 10 })).rows.map((r) => r.name)).toEqual(['new', 'up']);
    } finally {
      await upgraded.close();
    }
  });

  it('filters, sorts, pages and counts records in the store as the console lists them, and walks them past a chunk', async () => {
    const tenants = ['list-a', 'default'];
    const names = Array.from({ length: 1800 }, (_, i) => [`n-${i}`, `N_${i}`, `n.${i}`, `Zeta${i}`][i % 4]!);
    const states = [ready('True', 'Issued', 'ok'), ready('False', 'CaUnreachable', `host ${'%'} down`), ready('False', 'Pending', 'Waiting For CA of Élodie'), {}];
    const all = names.map((name, i) => record(name, { tenant: tenants[i % 2]!, kind: i % 3 ? 'ListedKind' : 'ListedOther', status: states[i % 4]!, updatedAt: `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z` }));
    await store.commit(all.map((r) => ({ op: 'putRecord' as const, record: r })));
    try {
      const shown = (r: { tenant: string; kind: string; name: string }) => (r.tenant === 'default' ? `${r.kind}/${r.name}` : `${r.kind}/${r.tenant}/${r.name}`);
      const byShown = (a: StoredRecord, b: StoredRecord) => (shown(a) < shown(b) ? -1 : shown(a) > shown(b) ? 1 : 0);
      const summary = (r: StoredRecord) => {
        const c = (r.status.conditions as { type: string; status: string; reason: string; message: string }[] | undefined)?.find((x) => x.type === 'Ready');
        return { tenant: r.tenant, kind: r.kind, name: r.name, ready: c?.status ?? 'Unknown', reason: c && c.status !== 'True' ? c.reason : '', message: c?.message ?? '', updatedAt: r.updatedAt };
      };
      const mine = { kind: 'ListedKind' };
      const expected = all.filter((r) => r.kind === 'ListedKind').sort(byShown).map(summary);
      const walked: unknown[] = [];
      await store.forEachRecordSummary(mine, (chunk) => void walked.push(...chunk));
      expect(walked).toEqual(expected);
      const page = await store.listRecordSummaries({ ...mine, offset: 50, limit: 50 });
      expect(page).toEqual({ rows: expected.slice(50, 100), total: expected.length });

      // Filters, and text held by the name or the message whatever its case, a wildcard as text.
      const text = (q: string) => (r: ReturnType<typeof summary>) => shown(r).toLowerCase().includes(q) || r.message.toLowerCase().includes(q);
      const cases: [Parameters<Store['forEachRecordSummary']>[0], (r: ReturnType<typeof summary>) => boolean][] = [
        [{ ...mine, tenant: 'list-a', ready: 'False' }, (r) => r.tenant === 'list-a' && r.ready === 'False'],
        [{ ...mine, reason: 'Pending' }, (r) => r.reason === 'Pending'],
        [{ ...mine, text: 'zeta1' }, text('zeta1')],
        [{ ...mine, text: 'waiting for' }, text('waiting for')],
        [{ ...mine, text: '%' }, text('%')],
        [{ ...mine, text: 'n_1' }, text('n_1')],
        // Beyond ASCII: SQLite folds with mdmops' own LOWER; PostgreSQL by its database's locale (C here, ASCII only).
        ...(backendName === 'SQLite' ? [[{ ...mine, text: 'élodie' }, text('élodie')] as (typeof cases)[number]] : []),
      ];
      for (const [q, keep] of cases) {
        const got: unknown[] = [];
        await store.forEachRecordSummary(q, (chunk) => void got.push(...chunk));
        expect(got, JSON.stringify(q)).toEqual(expected.filter(keep));
      }
      // Other orders, each walked whole past a chunk: Ready, reason, newest first (then by name).
      const orders: [Parameters<Store['forEachRecordSummary']>[0]['sort'], (a: ReturnType<typeof summary>, b: ReturnType<typeof summary>) => number][] = [
        ['ready', (a, b) => (a.ready < b.ready ? -1 : a.ready > b.ready ? 1 : 0)],
        ['reason', (a, b) => (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0)],
        ['updated', (a, b) => (a.updatedAt > b.updatedAt ? -1 : a.updatedAt < b.updatedAt ? 1 : 0)],
      ];
      for (const [sort, order] of orders) {
        const got: unknown[] = [];
        await store.forEachRecordSummary({ ...mine, sort }, (chunk) => void got.push(...chunk));
        expect(got, sort).toEqual([...expected].sort((a, b) => order(a, b) || (shown(a) < shown(b) ? -1 : 1)));
      }
      const counted = await store.countRecords();
      expect(counted.kinds).toEqual(expect.arrayContaining(['ListedKind', 'ListedOther']));
      expect(counted.tenants).toEqual(expect.arrayContaining(tenants));
      expect(counted.byKindReady.filter((c) => c.kind === 'ListedKind').sort((a, b) => (a.ready < b.ready ? -1 : 1))).toEqual(
        ['False', 'True', 'Unknown'].map((state) => ({ kind: 'ListedKind', ready: state, count: expected.filter((r) => r.ready === state).length })),
      );
    } finally {
      await store.commit(all.map((r) => ({ op: 'deleteRecord' as const, id: r })));
    }
  });

  it("lists the records whose spec names a resource, of its tenant alone", async () => {
    const ref = (tenant: string, name: string, to: string) => record(name, { tenant, kind: 'CertificateConfiguration', spec: { identity: { certificateAuthorityRef: { name: to } } } });
    const put = [ref('mention', 'a', 'root'), ref('mention', 'b', 'root-2'), ref('mention', 'c', 'ro%t'), ref('mention-other', 'd', 'root')];
    await store.commit(put.map((r) => ({ op: 'putRecord' as const, record: r })));
    expect((await store.listRecordsMentioning('mention', 'root')).map((r) => r.name)).toEqual(['a']);
    expect((await store.listRecordsMentioning('mention', 'ro%t')).map((r) => r.name)).toEqual(['c']);
    await store.commit(put.map((r) => ({ op: 'deleteRecord' as const, id: r })));
  });

  it("keeps a source's last syncs, of its tenant alone, and lets them go with the record", async () => {
    const id = { tenant: 'syncs', kind: 'EntraIdSource', name: 'contoso' };
    const other = { ...id, tenant: 'syncs-other' };
    const at = (i: number) => `2026-01-01T00:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.000Z`;
    await store.commit([{ op: 'putRecord', record: record('contoso', { ...id }) }, { op: 'recordSync', id: other, sync: { at: at(0), durationMs: 5, userCount: 1, outcome: 'failed' } }]);
    for (let i = 0; i < SYNC_HISTORY + 5; i++) await store.commit([{ op: 'recordSync', id, sync: { at: at(i), durationMs: 100 + i, userCount: i, outcome: 'synced' } }]);
    const kept = await store.listSyncHistory(id);
    expect(kept).toHaveLength(SYNC_HISTORY);
    expect(kept[0]).toEqual({ at: at(5), durationMs: 105, userCount: 5, outcome: 'synced' });
    expect(kept.at(-1)!.at).toBe(at(SYNC_HISTORY + 4));
    expect(await store.listSyncHistory(other)).toEqual([{ at: at(0), durationMs: 5, userCount: 1, outcome: 'failed' }]);
    await store.commit([{ op: 'deleteRecord', id }, { op: 'recordSync', id: other, sync: { at: at(1), durationMs: 6, userCount: 1, outcome: 'synced' } }]);
    expect(await store.listSyncHistory(id)).toEqual([]);
    expect(await store.listSyncHistory(other)).toHaveLength(2);
  });

  it('refuses a store written by a newer mdmops', async () => {
    await store.commit([{ op: 'setMeta', key: 'schema_version', value: String(SCHEMA_VERSION + 1) }]);
    await expect(openStore(spec)).rejects.toThrow(`written by a newer mdmops (store schema ${SCHEMA_VERSION + 1}; this mdmops knows up to ${SCHEMA_VERSION})`);
    await store.commit([{ op: 'setMeta', key: 'schema_version', value: String(SCHEMA_VERSION) }]);
  });
});

describe('the master key', () => {
  it('seals each value under its own nonce, across refills of its drawn randomness', () => {
    const key = new MasterKey(randomBytes(32));
    const plain = Buffer.from('a private key');
    const sealed = Array.from({ length: 600 }, (_, i) => key.seal(plain, `aad-${i}`));
    expect(new Set(sealed.map((s) => s.subarray(1, 13).toString('hex'))).size).toBe(600);
    sealed.forEach((s, i) => expect(key.open(s, `aad-${i}`)).toEqual(plain));
    expect(() => key.open(sealed[0]!, 'aad-1')).toThrow(/does not open/);
  });
});

describe('SQLite sessions', () => {
  it("wait out another caller's transaction on the shared connection instead of joining it", async () => {
    const { sqliteDriver } = await import('../src/store/sqlite.js');
    const driver = sqliteDriver(join(dir, 'sessions.db'));
    try {
      const session = await driver.session();
      await session.query('CREATE TEMP TABLE staged (x TEXT)');
      let staging: Promise<unknown> | undefined;
      await expect(
        driver.transaction(async (exec) => {
          await exec('CREATE TABLE t (x TEXT)');
          // A statement of the session, issued while this transaction is open and awaiting.
          staging = session.query('INSERT INTO staged VALUES (?)', ['kept']);
          for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      await staging;
      expect((await session.query('SELECT x FROM staged')).rows).toEqual([{ x: 'kept' }]);
      await session.release();
    } finally {
      await driver.close();
    }
  });
});

describe('the CLI on PostgreSQL', () => {
  const ws = workspace(true);
  const key = randomBytes(32).toString('hex');

  it('applies the example tenant and has nothing more to do', async () => {
    const url = await freshDatabase('cli');
    const env = { MDMOPS_MASTER_KEY: key };
    const first = ws.run(['apply', '-f', 'config', '--auto-approve', '--store', url], env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('Apply complete: 15 created');
    expect(first.stderr).not.toContain('created a master key');
    const plan = ws.run(['plan', '-f', 'config', '--store', url, '--detailed-exitcode'], env);
    expect(plan.stdout).toContain('No changes: 15 resources up to date.');
    expect(plan.code).toBe(0);
    expect(ws.run(['status', '--store', url], env).stdout).toMatch(/Space\/emea\s+True/);
  });

  it('needs a master key given to it, and refuses another one', async () => {
    const url = await freshDatabase('keys');
    const none = ws.run(['plan', '-f', 'config', '--store', url]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no master key: set MDMOPS_MASTER_KEY or --master-key-file');
    expect(ws.run(['plan', '-f', 'config', '--store', url], { MDMOPS_MASTER_KEY: key }).code).toBe(0);
    const other = ws.run(['plan', '-f', 'config', '--store', url], { MDMOPS_MASTER_KEY: randomBytes(32).toString('base64') });
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/the master key \(id [0-9a-f]{16}\) is not the one this store was made with/);
  });

  it('says which store it could not open, without the password', () => {
    const r = ws.run(['status', '--store', 'postgres://admin:hunter2@127.0.0.1:1/db'], { MDMOPS_MASTER_KEY: key });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot open the tenant store');
    expect(r.stderr).not.toContain('hunter2');
  });
});

describe('the CLI on SQLite', () => {
  const ws = workspace();
  ws.write('config/a.yaml', doc('Connector', 'paris', 'hosting: OnPremises'));

  it('refuses a store from a newer mdmops and a bad --store', () => {
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const bad = ws.run(['status', '--store', 'mysql://x']);
    expect(bad.stderr).toContain('expected sqlite:PATH or postgres://user@host/db');
    ws.write('not-a-db', 'hello, this is not a database file at all, just text');
    const notDb = ws.run(['status', '--store', 'sqlite:not-a-db']);
    expect(notDb.code).toBe(1);
    expect(notDb.stderr).toContain('cannot open the tenant store at');
  });
});

async function freshDatabase(name: string): Promise<string> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  return postgres.url.replace(/\/mdmops$/, `/${name}`);
}

describe('one apply at a time', () => {
  const ws = workspace();
  ws.write('config/a.yaml', Array.from({ length: 12 }, (_, i) => doc('CertificateAuthority', `ca-${i}`, `type: Local\nsubject: { commonName: CA ${i} }\nkeyAlgorithm: RSA-3072`)).join(''));

  it('refuses a second apply while one runs, and lets a killed one go', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN_PATH, NODE } = await import('./support/cli.js');
    const first = spawn(NODE, [BIN_PATH, 'apply', '-f', 'config', '--auto-approve', '--concurrency', '1'], { cwd: ws.dir });
    // Wait until the first apply has its lock and is at work.
    await new Promise<void>((resolve) => first.stdout.once('data', () => resolve()));
    const second = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another apply \(.+:\d+:[0-9a-f]{8}\) is running on tenant default of the tenant store at .*: try again when it has finished/);
    // mdmops run on the same store waits its turn too: its round is not applied while the apply runs.
    const beside = ws.run(['run', '--watch', 'config', '--once']);
    expect(beside.code).toBe(1);
    expect(beside.stdout + beside.stderr).toMatch(/another apply \(.+\) is running on tenant default[^"]*; the next round tries again/);
    first.kill('SIGKILL');
    await new Promise((resolve) => first.on('exit', resolve));
    const after = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(after.code, after.stderr).toBe(0);
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
    expect(ws.run(['run', '--watch', 'config', '--once']).code).toBe(0);
  }, 120_000);

  it("keeps a tenant locked for the controller's reconcile that begins while the last one's release is under way", async () => {
    const store = await openStore(parseStoreSpec(`sqlite:${join(ws.dir, 'shared-locks.db')}`));
    try {
      const locks = new SharedTenantLocks(store);
      await locks.hold('lyon');
      const releasing = locks.letGo('lyon');
      await locks.hold('lyon'); // another worker starts on the tenant meanwhile
      await releasing;
      // Still held: an apply from elsewhere is refused, until the last worker lets go.
      await expect(takeApplyLocks(store, ['lyon'])).rejects.toThrow(ApplyLockHeld);
      await locks.letGo('lyon');
      await (await takeApplyLocks(store, ['lyon'])).release();
    } finally {
      await store.close();
    }
  });

  it('stops writing when it stalled past its lock and another apply took the tenant over', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN_PATH, NODE } = await import('./support/cli.js');
    const stalled = workspace();
    stalled.write('config/a.yaml', Array.from({ length: 12 }, (_, i) => doc('CertificateAuthority', `ca-${i}`, `type: Local\nsubject: { commonName: CA ${i} }\nkeyAlgorithm: RSA-3072`)).join(''));
    const first = spawn(NODE, [BIN_PATH, 'apply', '-f', 'config', '--auto-approve', '--concurrency', '1'], { cwd: stalled.dir });
    let output = '';
    first.stdout.on('data', (c: Buffer) => (output += c.toString()));
    first.stderr.on('data', (c: Buffer) => (output += c.toString()));
    await new Promise<void>((resolve) => first.stdout.once('data', () => resolve()));
    // Stalled (a paused VM, a stopped process) past the lock's 30 s: another apply may take it.
    first.kill('SIGSTOP');
    await new Promise((resolve) => setTimeout(resolve, 31_000));
    const second = stalled.run(['apply', '-f', 'config', '--auto-approve']);
    expect(second.code, second.stderr).toBe(0);
    first.kill('SIGCONT');
    const code = await new Promise<number | null>((resolve) => first.on('exit', resolve));
    expect(code).toBe(1);
    expect(output).toContain('lost the apply lock of tenant default (another apply took it over while this one stalled): nothing more is written');
    const plan = stalled.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.code, plan.stdout).toBe(0);
  }, 120_000);
});

/**
 * Undoes the migrations above `version` (src/store/migrations.ts), as a store an older mdmops left
 * looks; each migration that adds one undoes it here.
 */
async function rollBack(driver: { dialect: string; query(sql: string): Promise<unknown> }, version: number): Promise<void> {
  const undo: Record<number, string[]> = {
    2: ['DROP TABLE locks'],
    3: ['DROP TABLE users', 'DROP TABLE certificates'],
    4: ['DROP TABLE invitations'], // and users.apple_id, gone with users
    6: ['ALTER TABLE records DROP COLUMN metadata'],
    7: ['ALTER TABLE users DROP COLUMN first_name', 'ALTER TABLE users DROP COLUMN last_name'],
    8: ['DROP TABLE provisioned'],
    9: ['ALTER TABLE users DROP COLUMN group_ids_json'],
    10: ['DROP INDEX records_kind_ready', 'DROP INDEX records_shown', 'DROP INDEX audit_resource', 'DROP INDEX notifications_active', 'ALTER TABLE records DROP COLUMN ready', 'ALTER TABLE records DROP COLUMN ready_reason', 'ALTER TABLE records DROP COLUMN ready_message'],
    11: ['DROP TABLE sync_history'],
    12: ['ALTER TABLE records DROP COLUMN applied_spec'],
    13: ['DROP TABLE user_versions', 'DROP TABLE provisioned_state', driver.dialect === 'postgres' ? 'DROP TRIGGER users_moved ON users' : 'DROP TRIGGER users_moved', ...(driver.dialect === 'postgres' ? ['DROP FUNCTION mdmops_user_moved()'] : [])],
  };
  expect(Math.max(...Object.keys(undo).map(Number))).toBe(SCHEMA_VERSION); // a new migration needs its undo here
  for (let v = SCHEMA_VERSION; v > version; v--) for (const sql of undo[v] ?? []) await driver.query(sql);
  await driver.query(`UPDATE meta SET value = '${version}' WHERE key = 'schema_version'`);
}
