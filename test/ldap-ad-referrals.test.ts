// Where Active Directory sends a search elsewhere, and what it sends in part: referrals to its other
// partitions (followed only with followReferrals, and only to the server the LdapSource names), and
// a user's memberOf over MaxValRange values (read range by range). Against a Samba AD DC in a
// customer network, through a connector agent, with the CLI (mdmops sync, users, notifications).
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetNs, type NetNs } from './servers/netns.js';
import { rangingProxyFor } from './servers/ranging-proxy.js';
import { adUserDn, startSambaDc, type AdGroupSeed, type AdUserSeed, type SambaDc } from './servers/samba.js';
import { connectedAgent } from './support/agent.js';
import { mdmopsAsync } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const BASE_DN = 'DC=corp,DC=example,DC=test';
const seeds: AdUserSeed[] = [
  { sAMAccountName: 'alice', givenName: 'Alice', sn: 'Martin', ou: 'Staff' },
  { sAMAccountName: 'bob', givenName: 'Bob', sn: 'Nowak', ou: 'Staff' },
  { sAMAccountName: 'many', givenName: 'Manon', sn: 'Groupée', ou: 'Staff' },
];
// A user in 1,600 groups: more memberOf values than MaxValRange (1,500).
const TEAMS = Array.from({ length: 1600 }, (_, i) => `Team ${String(i).padStart(4, '0')}`);
const teams: AdGroupSeed[] = TEAMS.map((name) => ({ name, ou: 'Teams', members: [adUserDn(seeds[2]!, BASE_DN)] }));
// A single DC holds no other domain: the configuration partition, which a search of the domain's
// root is referred to (checked: `# refldaps://corp.example.test/CN=Configuration,...`, and from
// there to CN=Schema), is given an account of its own to be found there.
const PARTNERS = `CN=Partner Users,CN=Configuration,${BASE_DN}`;
const configEntries = `dn: ${PARTNERS}
objectClass: container

dn: CN=Config Person,${PARTNERS}
objectClass: user
sAMAccountName: cfgperson
userPrincipalName: cfgperson@corp.example.test
userAccountControl: 544
`;
// The domain's own enabled accounts (Administrator, dns-DC1) and the seeds.
const DOMAIN_USERS = seeds.length + 2;
const CONFIGURATION_REFERRAL = `ldaps://corp.example.test/CN=Configuration,${BASE_DN}`;

let netns: NetNs;
let dc: SambaDc;
beforeAll(async () => {
  netns = await startNetNs();
  dc = await startSambaDc({ netns, users: seeds, groups: teams, entries: configEntries });
});
afterAll(async () => {
  await dc?.stop();
  await netns?.stop();
});

describe('LdapSource against Active Directory: referrals and ranged memberOf', () => {
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_CORP_AD__PASSWORD: dc.bindPassword });
  let stopAgent: (() => Promise<void>) | undefined;
  let proxy: Awaited<ReturnType<typeof rangingProxyFor>> | undefined;
  afterAll(async () => {
    await proxy?.stop();
    await stopAgent?.();
  });

  const connector = doc('Connector', 'dc', 'hosting: OnPremises');
  const source = (name: string, extra: string) => doc('LdapSource', name, `${dc.sourceSpec()}\n${extra}`);
  const apply = (sources: string) => {
    ws.write('config/tenant.yaml', connector + sources);
    const applied = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(applied.code, applied.stderr).toBe(0);
  };
  const sync = (name: string) => ws.run(['sync', `LdapSource/${name}`], env());
  const users = (name: string): DirectoryUser[] => JSON.parse(ws.run(['users', '--source', `LdapSource/${name}`, '-o', 'json']).stdout);
  /** The active notification of that reason, if any. */
  const notification = (name: string, reason: string): { message: string } | undefined =>
    (JSON.parse(ws.run(['notifications', '-o', 'json']).stdout) as { name: string; reason: string; message: string }[]).find((n) => n.name === name && n.reason === reason);
  const upns = (list: DirectoryUser[]) => list.map((u) => u.upn).sort();

  beforeAll(async () => {
    ws.write('config/tenant.yaml', connector);
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    stopAgent = (await connectedAgent(ws, 'dc', { netns })).stop;
    ws.write('config/dc-ca.pem', dc.caPem);
  });

  it('passes referrals over by default, and syncs the domain', () => {
    apply(source('plain', ''));
    const synced = sync('plain');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`LdapSource/plain: ${DOMAIN_USERS} users (${DOMAIN_USERS} added, 0 changed, 0 removed)`);
    expect(upns(users('plain'))).not.toContain('cfgperson@corp.example.test');
    expect(synced.stderr).not.toContain('not followed');
    expect(notification('plain', 'LdapReferralsNotFollowed')).toBeUndefined();
  });

  it('with followReferrals, reports a referral to a server it does not name, and syncs the rest', () => {
    apply(source('follow', 'followReferrals: true'));
    const synced = sync('follow');
    // The DC names itself by the domain's DNS name, which the LdapSource does not name: the agent would not dial it.
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`LdapSource/follow: ${DOMAIN_USERS} users (${DOMAIN_USERS} added, 0 changed, 0 removed)`);
    expect(synced.stderr).toContain(`not followed, and the entries there not read: ${CONFIGURATION_REFERRAL}: corp.example.test is neither the host of url nor one of serverAliases`);
    expect(notification('follow', 'LdapReferralsNotFollowed')?.message).toContain(CONFIGURATION_REFERRAL);
    const status = JSON.parse(ws.run(['status', 'LdapSource/follow', '-o', 'json']).stdout).status;
    expect(status).toMatchObject({ userCount: DOMAIN_USERS });
    expect(status.lastError).toBeUndefined();
  });

  it("follows referrals to the DC's own domain name into the configuration partition, over the source's own connection", async () => {
    apply(source('follow', 'followReferrals: true\nserverAliases: [corp.example.test]'));
    const synced = sync('follow');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`LdapSource/follow: ${DOMAIN_USERS + 1} users (1 added, 0 changed, 0 removed)`);
    const person = users('follow').find((u) => u.upn === 'cfgperson@corp.example.test');
    expect(person?.id).toBe(`LdapSource/follow/${await dc.guidOf('cfgperson')}`);
    // Followed, the referral is no longer reported.
    expect(synced.stderr).not.toContain('not followed');
    expect(notification('follow', 'LdapReferralsNotFollowed')).toBeUndefined();
  });

  it('refuses serverAliases without followReferrals, naming the file, line and resource', () => {
    ws.write('bad/tenant.yaml', connector + source('bad', 'serverAliases: [corp.example.test]'));
    const validated = ws.run(['validate', '-f', 'bad']);
    expect(validated.code).toBe(1);
    expect(validated.stdout + validated.stderr).toMatch(/tenant\.yaml:\d+:\d+: LdapSource\/bad: spec\.serverAliases: serverAliases name the server in referrals, which are followed only with followReferrals: true/);
  });

  it("reads the memberOf of a user in more than MaxValRange groups range by range, from a proxy that ranges as Active Directory does", async () => {
    proxy = await rangingProxyFor(netns, dc);
    // The proxy answers as MS-ADTS 3.1.1.3.1.3.3 says, for memberOf as for any attribute: 1,500 values, then the rest up to *.
    const client = new Client({ url: `ldaps://127.0.0.1:${proxy.port}`, tlsOptions: { ca: proxy.caPem } });
    await client.bind(dc.bindDn, dc.bindPassword);
    const valuesOf = async (attribute: string) => {
      const entry = (await client.search(adUserDn(seeds[2]!, BASE_DN), { scope: 'base', attributes: [attribute] })).searchEntries[0]!;
      return Object.fromEntries(Object.entries(entry).filter(([name, v]) => name !== 'dn' && v.length));
    };
    const first = await valuesOf('memberOf');
    expect(Object.keys(first)).toEqual(['memberOf;range=0-1499']);
    expect(first['memberOf;range=0-1499']).toHaveLength(1500);
    expect((await valuesOf('memberOf;range=1500-*'))['memberOf;range=1500-*']).toHaveLength(100);
    await client.unbind();

    ws.write('config/proxy-ca.pem', proxy.caPem);
    // The groups' own member lists are not read (groupMember names RFC 2307's memberUid, which these
    // groups leave empty): the user's memberOf is all that says which groups it is in.
    apply(
      doc(
        'LdapSource',
        'ranged',
        `connectorRef: { name: dc }
directoryType: ActiveDirectory
url: ldaps://127.0.0.1:${proxy.port}
tls: { caCertificates: { file: proxy-ca.pem } }
bindDn: "${dc.bindDn}"
bindPasswordSecretRef: { name: corp-ad, key: password }
baseDn: "${dc.baseDn}"
attributeMapping: { groupMember: memberUid }`,
      ),
    );
    // Run aside, not blocking this process, where the proxy runs.
    const synced = await mdmopsAsync(['sync', 'LdapSource/ranged'], { cwd: ws.dir, env: env() });
    expect(synced.code, synced.stderr).toBe(0);
    const all = users('ranged');
    expect(all.find((u) => u.upn === 'many@corp.example.test')!.groups).toEqual(TEAMS);
    expect(all.find((u) => u.upn === 'alice@corp.example.test')!.groups).toEqual([]);
  });
});
