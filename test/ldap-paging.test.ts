// Groups and users that each span many pages, read at once: OpenLDAP keeps one paged search per
// connection, so the two searches must not share one (else "paged results cookie is invalid").
// The attribute mapping is spelled in another case than the directory's: LDAP names ignore case.
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { generatedUsers, startSlapd, type SlapdServer } from './servers/slapd.js';
import { connectedAgent } from './support/agent.js';
import { doc, workspace } from './support/workspace.js';

const USERS = 600;
const GROUPS = 40;
let slapd: SlapdServer;
const seeds = generatedUsers(USERS);
beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.addUsers(seeds);
  for (let g = 0; g < GROUPS; g++) await slapd.addGroup(`team-${g}`, seeds.filter((_, i) => i % GROUPS === g).map((u) => u.uid));
});
afterAll(() => slapd?.stop());

const ws = workspace();

it('reads groups and users that span many small pages at once, gives each user its group, and maps attributes whatever their case', async () => {
  ws.write('config/ldap.yaml', doc('Connector', 'dc', 'hosting: OnPremises'));
  expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
  await connectedAgent(ws);
  ws.write(
    'config/ldap.yaml',
    doc('Connector', 'dc', 'hosting: OnPremises') +
      doc('LdapSource', 'corp', `connectorRef: { name: dc }\nurl: ${slapd.url}\ninsecure: true\nbindDn: "${slapd.bindDn}"\nbindPasswordSecretRef: { name: corp-ldap, key: password }\nbaseDn: "${slapd.baseDn}"\npageSize: 3\nattributeMapping: { displayName: CN, email: MAIL, groupName: Cn }`),
  );
  const env = { MDMOPS_SECRET_CORP_LDAP__PASSWORD: slapd.bindPassword };
  expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env).code).toBe(0);
  const sync = ws.run(['sync', 'LdapSource/corp'], env);
  expect(sync.stderr).not.toContain('cookie');
  expect(sync.code, sync.stderr).toBe(0);
  expect(sync.stdout).toContain(`LdapSource/corp: ${USERS} users (${USERS} added`);
  const store = await openStore(parseStoreSpec(`sqlite:${join(ws.dir, '.mdmops/tenant.db')}`));
  try {
    const users = await store.listUsers('default');
    expect(users).toHaveLength(USERS);
    const index = new Map(seeds.map((u, i) => [u.uid, i]));
    for (const u of users) {
      const i = index.get(u.id.split('/').at(-1)!)!;
      expect(u.groups, u.id).toEqual([`team-${i % GROUPS}`]);
      expect(u.displayName, u.id).toBe(seeds[i]!.cn);
      expect(u.email, u.id).toBe(seeds[i]!.mail);
    }
  } finally {
    await store.close();
  }
});
