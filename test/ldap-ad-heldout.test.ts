// Held out: an Active Directory domain the other AD tests have not seen (another realm, names with
// commas and quotes in their DNs, a cycle of nested groups, overridden defaults, a search base of
// one OU), synced through a connector agent with `mdmops sync`, as a user would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetNs, type NetNs } from './servers/netns.js';
import { adGroupDn, adUserDn, startSambaDc, type AdGroupSeed, type AdUserSeed, type SambaDc } from './servers/samba.js';
import { connectedAgent } from './support/agent.js';
import { doc, workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const REALM = 'FABRIKAM.LAB';
const BASE_DN = 'DC=fabrikam,DC=lab';
const seeds: AdUserSeed[] = [
  { sAMAccountName: 'oconnor', givenName: "Siobhán", sn: "O'Connor, Jr.", ou: 'Dublin' },
  { sAMAccountName: 'quote', givenName: 'Anne "Nan"', sn: 'Brontë', ou: 'Dublin', mail: 'nan@fabrikam.lab' },
  { sAMAccountName: 'plus', givenName: 'Jean+Luc', sn: 'Picard', ou: 'Dublin', disabled: true },
  { sAMAccountName: 'outside', givenName: 'Out', sn: 'Side', ou: 'Contractors' },
];
const ring1: AdGroupSeed = { name: 'Ring, One', ou: 'Dublin', members: [adUserDn(seeds[0]!, BASE_DN), `CN=Ring Two,OU=Dublin,${BASE_DN}`] };
const ring2: AdGroupSeed = { name: 'Ring Two', ou: 'Dublin', members: [adGroupDn(ring1, BASE_DN), adUserDn(seeds[1]!, BASE_DN)] };

let netns: NetNs;
let dc: SambaDc;
beforeAll(async () => {
  netns = await startNetNs();
  // Ring Two is made after Ring, One names it: AD keeps a member only when its entry exists, so the cycle closes in a modify.
  dc = await startSambaDc({ netns, realm: REALM, users: seeds, groups: [{ ...ring1, members: [adUserDn(seeds[0]!, BASE_DN)] }, ring2] });
  await dc.modify(`dn: ${adGroupDn(ring1, BASE_DN)}\nchangetype: modify\nadd: member\nmember: ${adGroupDn(ring2, BASE_DN)}\n`);
});
afterAll(async () => {
  await dc?.stop();
  await netns?.stop();
});

describe('LdapSource against an Active Directory domain not seen before', () => {
  const ws = workspace();
  let stopAgent: (() => Promise<void>) | undefined;
  afterAll(() => stopAgent?.());

  it('syncs one OU with escaped names, overridden defaults and a cycle of nested groups', async () => {
    ws.write('config/tenant.yaml', doc('Connector', 'dc', 'hosting: OnPremises'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    stopAgent = (await connectedAgent(ws, 'dc', { netns })).stop;
    ws.write('config/ca.pem', dc.caPem);
    ws.write(
      'config/tenant.yaml',
      doc('Connector', 'dc', 'hosting: OnPremises') +
        doc(
          'LdapSource',
          'fabrikam',
          `connectorRef: { name: dc }
directoryType: ActiveDirectory
url: ${dc.ldapUrl}
startTls: true
tls: { caCertificates: { file: ca.pem }, serverName: ${dc.serverName} }
bindDn: "${dc.bindDn}"
bindPasswordSecretRef: { name: fabrikam, key: password }
baseDn: "${dc.baseDn}"
userSearchBase: "OU=Dublin,${dc.baseDn}"
attributeMapping: { email: userPrincipalName }
customAttributes: [{ name: account, attribute: sAMAccountName }]
nestedGroups: true`,
        ),
    );
    const env = { MDMOPS_SECRET_FABRIKAM__PASSWORD: dc.bindPassword };
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env).code).toBe(0);
    const synced = ws.run(['sync', 'LdapSource/fabrikam'], env);
    expect(synced.code, synced.stderr).toBe(0);
    // The disabled one and the one outside the search base are not read.
    expect(synced.stdout).toContain('LdapSource/fabrikam: 2 users (2 added, 0 changed, 0 removed)');
    const users: DirectoryUser[] = JSON.parse(ws.run(['users', '-o', 'json']).stdout);
    const oconnor = users.find((u) => u.attributes.account === 'oconnor')!;
    expect(oconnor).toMatchObject({ upn: 'oconnor@fabrikam.lab', email: 'oconnor@fabrikam.lab', displayName: "Siobhán O'Connor, Jr.", id: `LdapSource/fabrikam/${await dc.guidOf('oconnor')}` });
    // In the cycle, each member is in both groups.
    expect(oconnor.groups).toEqual(['Ring Two', 'Ring, One']);
    expect(users.find((u) => u.attributes.account === 'quote')!.groups).toEqual(['Ring Two', 'Ring, One']);
  });
});
