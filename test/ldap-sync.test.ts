// LdapSource sync against a real OpenLDAP slapd, through the CLI.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedUsers, startSlapd, type SlapdServer } from './servers/slapd.js';
import { connectedAgent, gatewayInRun, type ConnectedAgent } from './support/agent.js';
import { doc, storedUsers, workspace } from './support/workspace.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

let slapd: SlapdServer;
const USERS = 2000;
beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.addUsers(generatedUsers(USERS));
  await slapd.addGroup('vpn-users', ['user1', 'user2', 'user3']);
});
afterAll(() => slapd?.stop());

describe('LdapSource sync', () => {
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_CORP_LDAP__PASSWORD: slapd.bindPassword });
  const users = () => storedUsers(ws);
  const sync = (...args: string[]) => ws.run(['sync', 'LdapSource/corp', ...args], env());
  let tunnel: ConnectedAgent;

  it('reads every user over StartTLS with paged searches, with groups, custom and non-ASCII attributes', async () => {
    ws.write('config/ldap.yaml', doc('Connector', 'dc', 'hosting: OnPremises'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    tunnel = await connectedAgent(ws);
    ws.write('config/ca.pem', slapd.caPem);
    ws.write(
      'config/ldap.yaml',
      doc('Connector', 'dc', 'hosting: OnPremises') +
        doc(
          'LdapSource',
          'corp',
          `connectorRef: { name: dc }
url: ${slapd.url}
startTls: true
tls: { caCertificates: { file: ca.pem }, serverName: localhost }
bindDn: "${slapd.bindDn}"
bindPasswordSecretRef: { name: corp-ldap, key: password }
baseDn: "${slapd.baseDn}"
attributeMapping: { userPrincipalName: mail }
customAttributes: [{ name: department, attribute: departmentNumber }, { name: description }]
pageSize: 300`,
        ),
    );
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    const first = sync();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`LdapSource/corp: ${USERS} users (${USERS} added, 0 changed, 0 removed)`);
    const all = await users();
    expect(all).toHaveLength(USERS);
    const seeds = new Map(generatedUsers(USERS).map((u) => [u.uid, u]));
    for (const u of all) {
      const seed = seeds.get(u.id.split('/').at(-1)!)!;
      expect(u.displayName).toBe(seed.cn);
      expect(u.upn).toBe(seed.mail ?? seed.uid);
      // givenName and sn, the default mapping of firstName and lastName.
      expect(u.firstName).toBe(seed.attributes!.givenName);
      expect(u.lastName).toBe(seed.sn);
    }
    expect(all.find((u) => u.id.endsWith('/user2'))!.groups).toEqual(['vpn-users']);
    expect(all.filter((u) => u.attributes.department === undefined).length).toBeGreaterThan(0);
    expect(all.some((u) => Array.isArray(u.attributes.description))).toBe(true);
    expect(all.some((u) => /[^\x00-\x7f]/.test(u.displayName ?? ''))).toBe(true);
    const status = JSON.parse(ws.run(['status', 'LdapSource/corp', '-o', 'json']).stdout).status;
    expect(status).toMatchObject({ userCount: USERS, groupCount: 1 });
    expect(status.lastSyncTime).toBeDefined();
    // Some users have no departmentNumber: named, counted, and a warning on the terminal too.
    const missing = all.filter((u) => u.attributes.department === undefined).length;
    expect(first.stderr).toContain(`department (missing on ${missing} of ${USERS} users)`);
    const notes = ws.run(['notifications']).stdout;
    expect(notes).toContain('LdapSomeAttributesNotSynced');
    expect(notes).not.toContain('LdapNoAttributesSynced');
    // Nothing changed: nothing written.
    expect(sync().stdout).toContain('(0 added, 0 changed, 0 removed)');
  });

  it('follows changes and deletions', async () => {
    await slapd.deleteUser('user5');
    await slapd.modify(`dn: uid=user6,ou=people,${slapd.baseDn}\nchangetype: modify\nreplace: cn\ncn: Renamed Six\n`);
    // A surname alone changed is a change too.
    await slapd.modify(`dn: uid=user8,ou=people,${slapd.baseDn}\nchangetype: modify\nreplace: sn\nsn: Married-Name\n`);
    expect(sync().stdout).toContain(`${USERS - 1} users (0 added, 2 changed, 1 removed)`);
    const all = await users();
    expect(all.find((u) => u.id.endsWith('/user6'))!.displayName).toBe('Renamed Six');
    expect(all.find((u) => u.id.endsWith('/user8'))).toMatchObject({ firstName: generatedUsers(9)[8]!.attributes!.givenName, lastName: 'Married-Name' });
    expect(all.some((u) => u.id.endsWith('/user5'))).toBe(false);
  });

  it('stops a round that would delete too many users until it is confirmed', async () => {
    for (let i = 10; i < 260; i++) await slapd.deleteUser(`user${i}`);
    const blocked = sync();
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain('would delete 250 of 1999 users');
    expect(await users()).toHaveLength(USERS - 1);
    expect(ws.run(['notifications']).stdout).toContain('LdapDeletionBlocked');
    const confirmed = sync('--allow-mass-delete');
    expect(confirmed.stdout).toContain('(0 added, 0 changed, 250 removed)');
    expect(await users()).toHaveLength(USERS - 251);
    expect(ws.run(['notifications']).stdout).not.toContain('LdapDeletionBlocked');
  });

  it('syncs on its syncInterval while mdmops run is running, through the tunnel its own gateway holds', async () => {
    await slapd.addUsers([{ uid: 'scheduled', cn: 'Scheduled User', sn: 'User', mail: 'scheduled@example.test' }]);
    const config = join(ws.dir, 'config/ldap.yaml');
    writeFileSync(config, readFileSync(config, 'utf8').replace('pageSize: 300', 'pageSize: 300\n  syncInterval: 1s'));
    const { run, back } = await gatewayInRun(ws, tunnel, ['--watch', 'config', '--interval', '1s'], env());
    try {
      await run.waitFor('the folder applied', (s) => s.applied);
      const deadline = Date.now() + 60_000;
      while (!(await users()).some((u) => u.id === 'LdapSource/corp/scheduled')) {
        if (Date.now() > deadline) throw new Error(`no scheduled sync brought the new user: ${run.output().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(run.output()).toContain('synced LdapSource/corp');
    } finally {
      expect(await back()).toBe(0);
    }
  }, 180_000); // two gateway changes, each waited out by the agent's backoff

  it('keeps every user when the directory cannot be reached', async () => {
    await slapd.stop();
    const down = sync();
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('the source cannot be read, no user was changed');
    expect(await users()).toHaveLength(USERS - 250); // with the user the scheduled sync brought
    expect(ws.run(['notifications']).stdout).toContain('LdapUnreachable');
    expect(down.stdout + down.stderr).not.toContain(slapd.bindPassword);
  });
});
