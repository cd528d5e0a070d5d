// EntraIdSource sync through the CLI, against the Entra ID / Graph emulator (the one part of the
// world we cannot reach from here): msal-node client credentials, Graph delta queries, throttling,
// expired tokens and delta links, an outage mid-sync, the mass-delete guard.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import type { Invitation } from '../src/store/types.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { mdmopsAsync } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const USERS = 1200;
let entra: EntraEmulator;
beforeAll(async () => {
  entra = await startEntra({ users: USERS, groups: 3 });
});
afterAll(() => entra?.stop());

describe('EntraIdSource sync', () => {
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_GRAPH_PAGE_SIZE: '200' });
  const read = async <T,>(fn: (s: Awaited<ReturnType<typeof openStore>>) => Promise<T>): Promise<T> => {
    const store = await openStore(parseStoreSpec(`sqlite:${join(ws.dir, '.mdmops/tenant.db')}`));
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  };
  const users = (): Promise<DirectoryUser[]> => read((s) => s.listUsers('default'));
  const invitations = (): Promise<Invitation[]> => read((s) => s.listInvitations('default'));
  const sync = (...args: string[]) => ws.run(['sync', 'EntraIdSource/contoso', ...args], env());
  const source = (name: string, extra: string) =>
    doc(
      'EntraIdSource',
      name,
      `${entra.sourceSpec()}
${extra}`,
    );
  const notifications = () => ws.run(['notifications']).stdout;
  const byGraphId = (all: DirectoryUser[], id: string) => all.find((u) => u.id === `EntraIdSource/contoso/${id}`);

  it('reads every user and group on the first round, with custom attributes, Apple IDs and invitations', async () => {
    ws.write(
      'config/entra.yaml',
      source(
        'contoso',
        `clientSecretRef: { name: entra, key: secret }
includeGuests: true
includeDisabledUsers: true
autoInviteUsers: true
managedAppleIds: { mode: Schema, schema: UserEmailAddress, includeAppleIdSubdomain: true }
customAttributes:
  - { name: department }
  - { name: costCenter, attribute: onPremisesExtensionAttributes.extensionAttribute1 }
  - { name: badge, attribute: ${entra.extensionProperty('badgeId')} }`,
      ),
    );
    const applied = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    await entra.clearRequests();
    const first = sync();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`EntraIdSource/contoso: ${USERS} users (${USERS} added, 0 changed, 0 removed)`);
    // msal stays offline until the token: no instance discovery, no OpenID configuration fetched.
    expect((await entra.requests()).map((r) => r.kind).filter((k) => k !== 'graph')).toEqual(['token']);

    const all = await users();
    expect(all).toHaveLength(USERS);
    for (const position of [0, 6, 9, 10, 8]) {
      const g = entra.generatedUser(position) as Record<string, any>;
      const u = byGraphId(all, String(g.id))!;
      expect(u.upn).toBe(g.userPrincipalName);
      expect(u.displayName).toBe(g.displayName);
      expect(u.firstName).toBe(g.givenName);
      expect(u.lastName).toBe(g.surname);
      expect(u.email).toBe(g.mail);
      expect(u.attributes.department).toBe(g.department);
      expect(u.attributes.costCenter).toBe(g.onPremisesExtensionAttributes.extensionAttribute1 ?? undefined);
      expect(u.attributes.badge).toBe(g[entra.extensionProperty('badgeId')]);
      // Built from the e-mail address, in the appleid subdomain; none without an address.
      expect(u.appleId).toBe(g.mail ? g.mail.replace('@', '@appleid.') : undefined);
    }
    // Every user of a group has its name among their groups.
    expect(new Set(all.flatMap((u) => u.groups)).size).toBe(3);
    expect(all.every((u) => u.groups.length === 1)).toBe(true);

    // Users without mail cannot be invited nor given an Apple ID: said so.
    const withMail = all.filter((u) => u.email).length;
    expect((await invitations()).length).toBe(withMail);
    const notes = notifications();
    expect(notes).toContain('ManagedAppleIdsIncomplete');
    expect(notes).toContain('EntraSomeAttributesNotSynced');
    const lacking = all.filter((u) => u.attributes.department === undefined).length;
    expect(first.stderr).toContain(`department (missing on ${lacking} of ${USERS} users)`);
    expect(ws.run(['invitations']).stdout).toContain(all.find((u) => u.email)!.email!);
    const status = JSON.parse(ws.run(['status', 'EntraIdSource/contoso', '-o', 'json']).stdout).status;
    expect(status).toMatchObject({ userCount: USERS, groupCount: 3 });
    // The secret goes to the token endpoint only.
    expect(JSON.stringify(status) + first.stdout + first.stderr + notes).not.toContain(entra.secret);
  });

  it('applies only what changed on the next round, from the delta link', async () => {
    const ids = [0, 1, 2, 3, 4].map((p) => entra.generatedUserId(p));
    await entra.updateUser(ids[0]!, { displayName: 'Zoë Renamed', department: null });
    await entra.updateUser(ids[4]!, { surname: 'Married-Name' }); // a surname alone changed is a change too
    await entra.deleteUser(ids[1]!); // soft: @removed reason changed
    await entra.deleteUser(ids[2]!, { hard: true });
    const [added] = await entra.addUsers([{ userPrincipalName: `new.user@${entra.domain}`, displayName: 'New User', mail: `new.user@${entra.domain}` }]);
    const [group] = await entra.addGroups([{ displayName: 'VPN Users', members: [ids[3]!, added!] }]);
    await entra.clearRequests();

    const next = sync();
    expect(next.code, next.stderr).toBe(0);
    expect(next.stdout).toContain(`${USERS - 1} users (1 added, 3 changed, 2 removed)`);
    const all = await users();
    expect(byGraphId(all, ids[0]!)).toMatchObject({ displayName: 'Zoë Renamed', firstName: entra.generatedUser(0).givenName, lastName: entra.generatedUser(0).surname });
    expect(byGraphId(all, ids[4]!)).toMatchObject({ firstName: entra.generatedUser(4).givenName, lastName: 'Married-Name' });
    expect(byGraphId(all, ids[0]!)!.attributes.department).toBeUndefined();
    expect(byGraphId(all, ids[1]!)).toBeUndefined();
    expect(byGraphId(all, ids[2]!)).toBeUndefined();
    expect(byGraphId(all, ids[3]!)!.groups).toContain('VPN Users');
    expect(byGraphId(all, added!)!.groups).toEqual(['VPN Users']);
    // Later rounds follow the stored links: no $select is sent again.
    const graph = (await entra.requests()).filter((r) => r.kind === 'graph');
    expect(graph.length).toBeGreaterThan(0);
    expect(graph.every((r) => !r.path.includes('$select'))).toBe(true);
    // A new user is invited; one restored is not invited twice.
    expect((await invitations()).some((i) => i.userId.endsWith(added!))).toBe(true);
    const before = (await invitations()).length;
    await entra.restoreUser(ids[1]!);
    expect(sync().stdout).toContain('(1 added, 0 changed, 0 removed)');
    expect((await invitations()).length).toBe(before);

    await entra.removeMember(group!, ids[3]!);
    expect(sync().stdout).toContain('(0 added, 1 changed, 0 removed)');
    expect(byGraphId(await users(), ids[3]!)!.groups).not.toContain('VPN Users');
  });

  it('waits as Graph asks when throttled, and gets a new token when the old one is refused', async () => {
    await entra.clearRequests();
    // The first Graph request goes through (the token is in use), the next one is throttled.
    await entra.setFaults({ throttle: { count: 1, retryAfter: 2, after: 1 } });
    await entra.updateUser(entra.generatedUserId(5), { jobTitle: 'ignored', displayName: 'Five Renamed' });
    const running = mdmopsAsync(['sync', 'EntraIdSource/contoso'], { cwd: ws.dir, env: env() });
    let finished = false;
    void running.then(() => (finished = true));
    let log = await entra.requests();
    while (!log.some((x) => x.status === 429)) {
      if (finished) throw new Error(`the sync ended before it was throttled: ${(await running).stderr}`);
      await new Promise((r) => setTimeout(r, 50));
      log = await entra.requests();
    }
    // While it waits, its token is revoked: the retry is refused, and it signs in again.
    await entra.setFaults({ revokeTokens: true });
    const r = await running;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('(0 added, 1 changed, 0 removed)');
    log = await entra.requests();
    const graph = log.filter((x) => x.kind === 'graph');
    const throttled = graph.find((x) => x.status === 429)!;
    const retry = graph.find((x) => x.seq > throttled.seq && x.path === throttled.path)!;
    expect(retry.at - throttled.at).toBeGreaterThanOrEqual(2000);
    expect(retry).toMatchObject({ status: 401, auth: 'revoked' });
    expect(log.filter((x) => x.kind === 'token').length).toBeGreaterThanOrEqual(2);
    expect(graph.at(-1)).toMatchObject({ status: 200, auth: 'ok' });
    await entra.clearFaults();
  });

  it('loses nothing when Entra ID fails mid-sync, and applies the same changes on the next round', async () => {
    const before = await users();
    await entra.updateUser(entra.generatedUserId(7), { displayName: 'Seven Renamed' });
    await entra.setFaults({ expireDeltaTokens: false, outage: { afterPages: 1, count: null } });
    const down = sync();
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('the source cannot be read, no user was changed');
    expect(await users()).toEqual(before);
    expect(notifications()).toContain('EntraUnreachable');
    await entra.clearFaults();
    const up = sync();
    expect(up.code, up.stderr).toBe(0);
    expect(up.stdout).toContain('(0 added, 1 changed, 0 removed)');
    expect(byGraphId(await users(), entra.generatedUserId(7))!.displayName).toBe('Seven Renamed');
    expect(notifications()).not.toContain('EntraUnreachable');
  });

  it('reads everything again when the delta link has expired (410 Gone)', async () => {
    await entra.setFaults({ expireDeltaTokens: true });
    await entra.clearRequests();
    const r = sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${USERS} users (0 added, 0 changed, 0 removed)`);
    const graph = (await entra.requests()).filter((x) => x.kind === 'graph');
    expect(graph.some((x) => x.status === 410)).toBe(true);
    expect(graph.some((x) => x.path.includes('$select'))).toBe(true);
    await entra.clearFaults();
  });

  it('takes the last of a user that a full round gives twice (changed while the round read it)', async () => {
    // The first user is on the first page; changed after it, Graph gives it again at the end.
    const first = entra.generatedUserId(0);
    const before = byGraphId(await users(), first)!;
    await entra.setFaults({ expireDeltaTokens: true, change: { afterUserPages: 1, id: first, patch: { displayName: 'Changed Mid-Round', department: null } } });
    await entra.clearRequests();
    const r = sync();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${USERS} users (0 added, 1 changed, 0 removed)`);
    const fullRound = (await entra.requests()).filter((x) => x.kind === 'graph' && x.status === 200 && x.path.startsWith('/v1.0/users/delta'));
    expect(fullRound.reduce((n, x) => n + (x.items ?? 0), 0)).toBe(USERS + 1);
    const after = byGraphId(await users(), first)!;
    expect(after).toMatchObject({ displayName: 'Changed Mid-Round', upn: before.upn, groups: before.groups });
    expect(after.attributes.department).toBeUndefined();
    expect(await users()).toHaveLength(USERS);
    await entra.clearFaults();
  });

  it('stops a round that would delete too many users until it is confirmed', async () => {
    for (let p = 100; p < 300; p++) await entra.deleteUser(entra.generatedUserId(p), { hard: true });
    const blocked = sync();
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`would delete 200 of ${USERS} users`);
    expect(await users()).toHaveLength(USERS);
    expect(notifications()).toContain('EntraDeletionBlocked');
    // The links were not moved on: the confirmed round still sees the deletions.
    const confirmed = sync('--allow-mass-delete');
    expect(confirmed.code, confirmed.stderr).toBe(0);
    expect(confirmed.stdout).toContain('(0 added, 0 changed, 200 removed)');
    expect(await users()).toHaveLength(USERS - 200);
    expect(notifications()).not.toContain('EntraDeletionBlocked');
  });

  it('names a refused credential without showing it, and signs in with a certificate', async () => {
    const bad = ws.run(['sync', 'EntraIdSource/contoso'], { ...env(), MDMOPS_SECRET_ENTRA__SECRET: 'not-the-secret-8Q~abcdefghijklmnop' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('AADSTS7000215');
    expect(bad.stderr).not.toContain('not-the-secret');

    ws.write('config/cert.yaml', source('by-cert', `clientCertificate:\n  certificateSecretRef: { name: entra-cert, key: tls.crt }\n  privateKeySecretRef: { name: entra-cert, key: tls.key }\nincludeGuests: true\nincludeDisabledUsers: true\ncustomAttributes: [{ name: hireDate, attribute: employeeHireDate }]`));
    ws.write('.mdmops/secrets/entra-cert/tls.crt', entra.certificate.certificatePem);
    ws.write('.mdmops/secrets/entra-cert/tls.key', entra.certificate.privateKeyPem);
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    const r = ws.run(['sync', 'EntraIdSource/by-cert'], env());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`EntraIdSource/by-cert: ${USERS - 200} users`);
    // No user has the one custom attribute: the source is probably not allowed to read it.
    expect(notifications()).toMatch(/EntraIdSource\/by-cert\s.*EntraNoAttributesSynced/);

    // A certificate secret that holds no certificate is said at once, not taken for an unreachable Graph.
    ws.write('.mdmops/secrets/entra-cert/tls.crt', 'not a certificate');
    const broken = ws.run(['sync', 'EntraIdSource/by-cert'], env());
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('EntraIdSource/by-cert: the source cannot be read, no user was changed');
    expect(broken.stderr).toContain('the client certificate is not a PEM certificate');
    expect(broken.stderr).not.toContain('cannot reach');
  });
});
