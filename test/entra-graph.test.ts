// EntraIdSource through `mdmops sync` against what Microsoft Graph documents and a plain emulator
// would not do: delta links that expire, token endpoint faults, guests and disabled accounts,
// groups of the same name, restored users, page shapes. Each test goes through the CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { doc, storedUsers, workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const USERS = 300;
const DAY_S = 86_400;
let entra: EntraEmulator;
beforeAll(async () => {
  entra = await startEntra({ users: USERS, groups: 2 });
});
afterAll(() => entra?.stop());

describe('EntraIdSource against Graph as documented', () => {
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile });
  const users = () => storedUsers(ws);
  const sync = (...args: string[]) => ws.run(['sync', 'EntraIdSource/contoso', ...args], env());
  const notifications = () => ws.run(['notifications']).stdout;
  const byGraphId = (all: DirectoryUser[], id: string) => all.find((u) => u.id === `EntraIdSource/contoso/${id}`);
  const apply = (extra = '') => {
    ws.write('config/entra.yaml', doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }\n${extra}`));
    const r = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };
  let synced = USERS;

  it('reads everything again, as EntraResync, when the stored delta links are over 7 days old (400 syncStateNotFound)', async () => {
    apply();
    const first = sync();
    expect(first.code, first.stderr).toBe(0);
    synced = (await users()).length;
    await entra.updateUser(entra.generatedUserId(3), { displayName: 'Three, a week later' });
    await entra.setFaults({ advanceClock: 7 * DAY_S + 60 });
    await entra.clearRequests();
    const late = sync();
    expect(late.code, late.stderr).toBe(0);
    expect(late.stdout).toContain(`${synced} users (0 added, 1 changed, 0 removed)`);
    const graph = (await entra.requests()).filter((r) => r.kind === 'graph');
    expect(graph.filter((r) => r.status === 400).map((r) => r.error)).toContain('syncStateNotFound');
    expect(graph.some((r) => r.status === 200 && r.path.includes('$select'))).toBe(true);
    expect(byGraphId(await users(), entra.generatedUserId(3))!.displayName).toBe('Three, a week later');
    expect(notifications()).toMatch(/EntraResync.*delta link/);
    // The links of that round are fresh: the next round follows them, and the notice goes.
    const next = sync();
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain('(0 added, 0 changed, 0 removed)');
    expect(notifications()).not.toContain('EntraResync');
  });

  it('takes a synchronization reset (410 Gone) the same way, under the deletion guard', async () => {
    const stored = new Set((await users()).map((u) => u.id));
    let gone = 0;
    for (let p = 200; p < 240; p++) {
      await entra.deleteUser(entra.generatedUserId(p), { hard: true });
      if (stored.has(`EntraIdSource/contoso/${entra.generatedUserId(p)}`)) gone++;
    }
    await entra.setFaults({ expireDeltaTokens: true });
    const blocked = sync();
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`would delete ${gone} of ${synced} users`);
    expect(await users()).toHaveLength(synced);
    const notes = notifications();
    expect(notes).toContain('EntraDeletionBlocked');
    expect(notes).toContain('EntraResync');
    const confirmed = sync('--allow-mass-delete');
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toContain(`(0 added, 0 changed, ${gone} removed)`);
    synced -= gone;
    expect(await users()).toHaveLength(synced);
    expect(notifications()).not.toContain('EntraDeletionBlocked');
    await entra.clearFaults();
  });

  it('tries the token endpoint again on 429, 5xx and no answer; names refused credentials and missing consent apart', async () => {
    await entra.clearRequests();
    await entra.setFaults({ throttle: { count: 2, retryAfter: 1, target: 'token' } });
    const throttled = sync();
    expect(throttled.code, throttled.stderr).toBe(0);
    const tokens = (await entra.requests()).filter((r) => r.kind === 'token');
    expect(tokens.map((r) => r.status)).toEqual([429, 429, 200]);
    expect(tokens[1]!.at - tokens[0]!.at).toBeGreaterThanOrEqual(1000);

    await entra.setFaults({ throttle: { count: 1, status: 503, retryAfter: null, target: 'token' }, outage: { count: 1, target: 'token' } });
    const flaky = sync();
    expect(flaky.code, flaky.stderr).toBe(0);

    await entra.setFaults({ outage: { count: null, target: 'token' } });
    const down = sync();
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/token endpoint of \S+ gave no answer \(ECONNRESET\), 4 times/);
    expect(down.stderr).not.toContain('refused');
    expect(notifications()).toContain('EntraUnreachable');
    await entra.clearFaults();

    const refused = ws.run(['sync', 'EntraIdSource/contoso'], { ...env(), MDMOPS_SECRET_ENTRA__SECRET: 'wrong-secret-8Q~abcdefghijklmnopqrstuvwxyz0123' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("refused the app's credentials (AADSTS7000215)");
    expect(refused.stderr).not.toContain('wrong-secret');
    let notes = notifications();
    expect(notes).toContain('EntraAuthFailed');
    expect(notes).not.toContain('EntraUnreachable');

    await entra.setCredentials({ permissions: [] });
    const denied = sync();
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain('Authorization_RequestDenied');
    expect(denied.stderr).toContain('User.Read.All and GroupMember.Read.All');
    notes = notifications();
    expect(notes).toContain('EntraPermissionMissing');
    expect(notes).not.toContain('EntraAuthFailed');

    await entra.setCredentials({ permissions: ['User.Read.All', 'GroupMember.Read.All'] });
    const granted = sync();
    expect(granted.code, granted.stderr).toBe(0);
    expect(notifications()).not.toMatch(/EntraPermissionMissing|EntraAuthFailed|EntraUnreachable/);
  });

  it('leaves guests, rooms and disabled accounts out unless asked; a user disabled later leaves, under the deletion guard', async () => {
    const positions = Array.from({ length: USERS }, (_, p) => p).filter((p) => p < 200 || p >= 240);
    const guest = (p: number) => entra.generatedUser(p).userType === 'Guest';
    const disabled = (p: number) => entra.generatedUser(p).accountEnabled === false;
    const ids = (ps: number[]) => ps.map((p) => `EntraIdSource/contoso/${entra.generatedUserId(p)}`).sort();
    const stored = async () => (await users()).map((u) => u.id).sort();
    expect(positions.some(guest) && positions.some(disabled)).toBe(true);
    expect(await stored()).toEqual(ids(positions.filter((p) => !guest(p) && !disabled(p))));
    expect((await users()).some((u) => u.upn.includes('#EXT#') || u.displayName?.startsWith('Room '))).toBe(false);

    await entra.updateUser(entra.generatedUserId(5), { accountEnabled: false });
    const one = sync();
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toContain('(0 added, 0 changed, 1 removed)');
    const many = positions.filter((p) => p >= 10 && p < 50 && !guest(p) && !disabled(p));
    for (const p of many) await entra.updateUser(entra.generatedUserId(p), { accountEnabled: false });
    const blocked = sync();
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`would delete ${many.length} of`);
    const confirmed = sync('--allow-mass-delete');
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toContain(`(0 added, 0 changed, ${many.length} removed)`);
    const off = new Set([5, ...many]);
    expect(await stored()).toEqual(ids(positions.filter((p) => !guest(p) && !disabled(p) && !off.has(p))));

    // Asked for, they come in at once: a full round, as the stored users were chosen otherwise.
    apply('includeGuests: true\nincludeDisabledUsers: true');
    const before = (await stored()).length;
    const all = sync();
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toContain(`${positions.length} users (${positions.length - before} added, 0 changed, 0 removed)`);
    expect(await stored()).toEqual(ids(positions));
    expect(notifications()).toMatch(/EntraResync.*includeGuests/);
    const guestUser = byGraphId(await users(), entra.generatedUserId(39))!;
    expect(guestUser.upn).toContain('#EXT#');
    synced = positions.length;
  });

  it('keeps groups by id: two groups of one name stay two, and a selector naming them is reported', async () => {
    const u = (p: number) => entra.generatedUserId(p);
    const [east, west] = await entra.addGroups([{ displayName: 'Sales', members: [u(1), u(3)] }, { displayName: 'Sales', members: [u(2), u(3)] }]);
    const r = sync();
    expect(r.code, r.stderr).toBe(0);
    const listed = JSON.parse(ws.run(['users', '-o', 'json']).stdout) as DirectoryUser[];
    const of = (p: number) => listed.find((x) => x.id === `EntraIdSource/contoso/${u(p)}`)!;
    const sales = (x: DirectoryUser) => x.groupIds!.filter((_, i) => x.groups[i] === 'Sales');
    expect(sales(of(1))).toEqual([east]);
    expect(sales(of(2))).toEqual([west]);
    expect(sales(of(3))).toEqual([east, west].sort());
    expect(of(3).groups.filter((g) => g === 'Sales')).toHaveLength(2);
    expect(of(1).groups.length).toBe(of(1).groupIds!.length);

    const pki = (selector: string) =>
      doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Test Root }\nkeyAlgorithm: ECDSA-P256') +
      doc('CertificateConfiguration', 'vpn', `identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=\${userUPN}\n  keyAlgorithm: ECDSA-P256\n  usages: { clientAuthentication: true }\ndistribution:\n  devices: Custom\n  selector: { groups: [${selector}] }`);
    const status = () => JSON.parse(ws.run(['status', 'CertificateConfiguration/vpn', '-o', 'json']).stdout).status;
    ws.write('config/pki.yaml', pki('Sales'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    const byName = status();
    expect(byName.reachedCount).toBe(3);
    expect(byName.ambiguousGroups).toEqual([`group "Sales" names 2 groups (${[east, west].sort().map((g) => `EntraIdSource/contoso group ${g}`).join(', ')}): the members of each are selected; name one by its id`]);
    expect(notifications()).toContain('GroupNameAmbiguous');
    // Named by id, one group: its members only, and nothing to report.
    ws.write('config/pki.yaml', pki(east!));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    const byId = status();
    expect(byId.reachedCount).toBe(2);
    expect(byId.ambiguousGroups).toBeUndefined();
    expect(notifications()).not.toContain('GroupNameAmbiguous');
    ws.remove('config/pki.yaml');
  });

  it('gives a restored user its groups back', async () => {
    const id = entra.generatedUserId(1);
    const before = byGraphId(await users(), id)!;
    expect(before.groups).toContain('Sales');
    expect(before.groups.length).toBeGreaterThan(1);
    await entra.deleteUser(id);
    const gone = sync();
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.stdout).toContain('(0 added, 0 changed, 1 removed)');
    await entra.restoreUser(id);
    const back = sync();
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain('(1 added, 0 changed, 0 removed)');
    const restored = byGraphId(await users(), id)!;
    expect({ groups: restored.groups, groupIds: restored.groupIds }).toEqual({ groups: before.groups, groupIds: before.groupIds });
  });

  it('reads pages as Graph sends them: about 200 objects, unset properties left out, cleared ones as null, @removed in a first round', async () => {
    const u = (p: number) => entra.generatedUserId(p);
    // A cleared property is sent as null, and goes from the store.
    await entra.updateUser(u(4), { mail: null, givenName: null, department: null });
    // A property the sync does not select changes: Graph returns nothing.
    await entra.updateUser(u(6), { officeLocation: 'Lyon' });
    await entra.clearRequests();
    const r = sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(0 added, 1 changed, 0 removed)');
    const four = byGraphId(await users(), u(4))!;
    expect([four.email, four.firstName, four.lastName]).toEqual([undefined, undefined, entra.generatedUser(4).surname]);
    const pages = (await entra.requests()).filter((x) => x.kind === 'graph' && x.path.startsWith('/v1.0/users/delta'));
    expect(pages.reduce((n, x) => n + (x.items ?? 0), 0)).toBe(1);

    // A second source's first round: a user in the recycle bin comes as @removed; pages hold 200.
    await entra.deleteUser(u(8));
    ws.write('config/fresh.yaml', doc('EntraIdSource', 'fresh', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }\nincludeGuests: true\nincludeDisabledUsers: true\ncustomAttributes: [{ name: department }]`));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    await entra.clearRequests();
    const fresh = ws.run(['sync', 'EntraIdSource/fresh'], env());
    expect(fresh.code, fresh.stderr).toBe(0);
    const active = (await entra.stats()).users;
    expect(fresh.stdout).toContain(`EntraIdSource/fresh: ${active} users (${active} added`);
    const first = (await entra.requests()).filter((x) => x.kind === 'graph' && x.path.startsWith('/v1.0/users/delta'));
    expect(first.reduce((n, x) => n + (x.items ?? 0), 0)).toBeGreaterThan(active);
    expect(Math.max(...first.map((x) => x.items ?? 0))).toBe(200);
    const all = await users();
    expect(all.some((x) => x.id === `EntraIdSource/fresh/${u(8)}`)).toBe(false);
    // Unset, a custom attribute is absent: users without a department have none.
    expect(all.find((x) => x.id === `EntraIdSource/fresh/${u(6)}`)!.attributes.department).toBeUndefined();
    expect(all.find((x) => x.id === `EntraIdSource/fresh/${u(0)}`)!.attributes.department).toBe(entra.generatedUser(0).department);
  });
});
