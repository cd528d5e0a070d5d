// LdapSource against Active Directory as it really answers: a Samba AD domain controller in a
// customer network (a network namespace), reached only through a connector agent running there,
// everything through the CLI (mdmops apply, sync, users, certificates).
import { Client } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetNs, type NetNs } from './servers/netns.js';
import { adGroupDn, adUserDn, startSambaDc, type AdGroupSeed, type AdUserSeed, type SambaDc } from './servers/samba.js';
import { rangingProxyFor } from './servers/ranging-proxy.js';
import { connectedAgent } from './support/agent.js';
import { mdmopsAsync } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const USERS = 3000;
const BASE_DN = 'DC=corp,DC=example,DC=test';
const OUS = ['Sales', 'Engineering', 'Recherche et Développement'];
const FIRST = ['Zoë', 'Łukasz', 'Ana', 'José', 'Björn', 'Chloé', 'Sven'];
const LAST = ['Ångström', 'Dupont', 'Nowak', 'García', 'Øster'];
/** Every 100th user, from the fourth on, is disabled (userAccountControl 0x2). */
const isDisabled = (i: number) => i % 100 === 3;
const seeds: AdUserSeed[] = Array.from({ length: USERS }, (_, i) => ({
  sAMAccountName: `user${i}`,
  givenName: FIRST[i % FIRST.length]!,
  sn: `${LAST[i % LAST.length]}${i}`,
  ou: OUS[i % OUS.length]!,
  ...(i % 10 === 9 ? {} : { mail: `user${i}@corp.example.test` }),
  ...(isDisabled(i) ? { disabled: true } : {}),
}));
// The domain's own accounts are users too: Administrator and dns-DC1 enabled, Guest and krbtgt disabled.
const ENABLED = seeds.filter((_, i) => !isDisabled(i)).length + 2;
const ALL = USERS + 4;
// A group over MaxValRange (1,500) members, and groups nested three deep.
const allStaff: AdGroupSeed = { name: 'All Staff', ou: 'Groups', members: seeds.slice(0, 1600).map((u) => adUserDn(u, BASE_DN)) };
const platform: AdGroupSeed = { name: 'Platform Team', ou: 'Groups', members: seeds.slice(10, 20).map((u) => adUserDn(u, BASE_DN)) };
const technology: AdGroupSeed = { name: 'Technology', ou: 'Groups', members: [adGroupDn(platform, BASE_DN), adUserDn(seeds[20]!, BASE_DN)] };
const company: AdGroupSeed = { name: 'Company', ou: 'Groups', members: [adGroupDn(technology, BASE_DN)] };

let netns: NetNs;
let dc: SambaDc;
beforeAll(async () => {
  netns = await startNetNs();
  dc = await startSambaDc({ netns, users: seeds, groups: [allStaff, platform, technology, company] });
});
afterAll(async () => {
  await dc?.stop();
  await netns?.stop();
});

describe('LdapSource with directoryType: ActiveDirectory, against a Samba AD DC', () => {
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_CORP_AD__PASSWORD: dc.bindPassword });
  let stopAgent: (() => Promise<void>) | undefined;
  afterAll(() => stopAgent?.());

  const source = (name: string, extra: string, url = dc.ldapsUrl) =>
    doc('LdapSource', name, `${dc.sourceSpec(url)}\n${extra}`);
  const connector = doc('Connector', 'dc', 'hosting: OnPremises');
  const write = (sources: string) => ws.write('config/tenant.yaml', connector + sources);
  const apply = () => ws.run(['apply', '-f', 'config', '--auto-approve'], env());
  const sync = (name: string, ...args: string[]) => ws.run(['sync', `LdapSource/${name}`, ...args], env());
  const users = (name: string): DirectoryUser[] => JSON.parse(ws.run(['users', '--source', `LdapSource/${name}`, '-o', 'json']).stdout);
  // A deletion threshold of 20 users, for a mass deletion cheap to make.
  const corpSpec = 'pageSize: 10000\nnestedGroups: true\ndeletionThreshold: { users: 20 }';
  const bothSources = () => source('corp', corpSpec) + source('starttls', 'startTls: true\npageSize: 250\nincludeDisabledUsers: true', dc.ldapUrl);
  const byAccount = (list: DirectoryUser[], i: number) => list.find((u) => u.upn === `user${i}@corp.example.test`);

  beforeAll(async () => {
    ws.write('config/tenant.yaml', connector);
    expect(apply().code).toBe(0);
    stopAgent = (await connectedAgent(ws, 'dc', { netns })).stop;
    ws.write('config/dc-ca.pem', dc.caPem);
  });

  it('refuses includeDisabledUsers on a Generic directory, naming the file, line and resource, and applies nothing', () => {
    ws.write('bad/tenant.yaml', connector + doc('LdapSource', 'generic', `connectorRef: { name: dc }\nurl: ldaps://127.0.0.1\nbindDn: cn=x\nbindPasswordSecretRef: { name: corp-ad, key: password }\nbaseDn: dc=x\nincludeDisabledUsers: true`));
    const validated = ws.run(['validate', '-f', 'bad']);
    expect(validated.code).toBe(1);
    expect(validated.stdout + validated.stderr).toMatch(/tenant\.yaml:\d+:\d+: LdapSource\/generic: spec\.includeDisabledUsers: includeDisabledUsers applies to directoryType: ActiveDirectory/);
    expect(ws.run(['apply', '-f', 'bad', '--auto-approve'], env()).code).toBe(1);
    expect(ws.run(['status', 'LdapSource/generic']).code).not.toBe(0);
  });

  it('is out of reach but through the agent, and answers with referrals to other partitions', async () => {
    expect(await netns.listening(636)).toBe(true);
    // A subtree search from the domain's root meets a reference to the configuration partition.
    expect(await dc.search(['-b', dc.baseDn, '-s', 'one', '(objectClass=organizationalUnit)', 'dn'])).toMatch(/^# refldaps:\/\/corp\.example\.test\/CN=Configuration,/m);
  });

  it('reads enabled users over LDAPS with the preset, objectGUID as id, groups, non-ASCII names, whatever the page size', async () => {
    // pageSize 10,000 asks for more than AD's MaxPageSize (1,000); Samba 4.17 has no such cap (checked:
    // ldapsearch -E pr=5000 brings 3,005 entries in one page), so the pages are as the server cuts them either way.
    write(source('corp', corpSpec));
    expect(apply().code).toBe(0);
    const first = sync('corp');
    expect(first.code, first.stderr).toBe(0);
    // Referrals to the configuration partition are not followed, and do not fail the search.
    expect(first.stdout).toContain(`LdapSource/corp: ${ENABLED} users (${ENABLED} added, 0 changed, 0 removed)`);
    const all = users('corp');
    expect(all).toHaveLength(ENABLED);
    // The id is the objectGUID in its string form, as Samba's own tools show it.
    const u5 = byAccount(all, 5)!;
    expect(u5.id).toBe(`LdapSource/corp/${await dc.guidOf('user5')}`);
    expect(u5).toMatchObject({ email: 'user5@corp.example.test', firstName: 'Chloé', lastName: 'Ångström5', displayName: 'Chloé Ångström5' });
    // No mail: the UPN is still the upn; disabled accounts are left out.
    expect(byAccount(all, 9)).toMatchObject({ upn: 'user9@corp.example.test' });
    expect(byAccount(all, 9)!.email).toBeUndefined();
    expect(byAccount(all, 3)).toBeUndefined();
    // A group of 1,600 members, and the three-deep nesting walked up.
    expect(byAccount(all, 1599)!.groups).toEqual(['All Staff']);
    expect(byAccount(all, 1600)!.groups).toEqual([]);
    expect(byAccount(all, 12)!.groups).toEqual(['All Staff', 'Company', 'Platform Team', 'Technology']);
    expect(byAccount(all, 20)!.groups).toEqual(['All Staff', 'Company', 'Technology']);
    const status = JSON.parse(ws.run(['status', 'LdapSource/corp', '-o', 'json']).stdout).status;
    // The domain's own groups (Domain Users, ...) are groups too.
    const groups = (await dc.search(['-b', dc.baseDn, '(objectClass=group)', 'dn'])).match(/^dn:/gm)!.length;
    expect(groups).toBeGreaterThan(4);
    expect(status).toMatchObject({ userCount: ENABLED, groupCount: groups });
  });

  it('reads the same over StartTLS with small pages, without nesting unless asked, and keeps disabled accounts when told', async () => {
    write(bothSources());
    expect(apply().code).toBe(0);
    const synced = sync('starttls');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`LdapSource/starttls: ${ALL} users (${ALL} added, 0 changed, 0 removed)`);
    const all = users('starttls');
    expect(byAccount(all, 3)).toBeDefined();
    expect(byAccount(all, 12)!.groups).toEqual(['All Staff', 'Platform Team']);
    // Same directory, same ids.
    expect(byAccount(all, 5)!.id.split('/').at(-1)).toBe(byAccount(users('corp'), 5)!.id.split('/').at(-1));
  });

  it('treats a user disabled later as gone, under the deletion threshold', async () => {
    await dc.modify(`dn: ${adUserDn(seeds[7]!, BASE_DN)}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 546\n`);
    expect(sync('corp').stdout).toContain(`${ENABLED - 1} users (0 added, 0 changed, 1 removed)`);
    expect(byAccount(users('corp'), 7)).toBeUndefined();
    // Disabling more than the threshold at once is a mass deletion: stopped until confirmed.
    const many = seeds.slice(1000, 1030).filter((_, i) => !isDisabled(1000 + i));
    await dc.modify(many.map((u) => `dn: ${adUserDn(u, BASE_DN)}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 546\n`).join('\n'));
    const blocked = sync('corp');
    expect(blocked.code).toBe(1);
    expect(blocked.stderr).toContain(`would delete ${many.length} of ${ENABLED - 1} users`);
    expect(users('corp')).toHaveLength(ENABLED - 1);
    await dc.modify(many.map((u) => `dn: ${adUserDn(u, BASE_DN)}\nchangetype: modify\nreplace: userAccountControl\nuserAccountControl: 544\n`).join('\n'));
    expect(sync('corp').stdout).toContain('(0 added, 0 changed, 0 removed)');
  });

  it('keeps the identity and the issued certificate of a user renamed and moved to another OU', async () => {
    write(
      bothSources() +
        doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Corp Root }\nkeyAlgorithm: ECDSA-P256') +
        doc('CertificateConfiguration', 'vpn', 'identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=${userUPN},O=Corp\ndistribution: { devices: Custom, selector: { groups: [Company] } }'),
    );
    const applied = apply();
    expect(applied.code, applied.stderr).toBe(0);
    const certificate = (upn: string) => (JSON.parse(ws.run(['certificates', 'vpn', '-o', 'json']).stdout) as { user: string; serial: string }[]).find((c) => c.user === upn);
    const upn = 'user14@corp.example.test';
    const before = byAccount(users('corp'), 14)!;
    const serial = certificate(upn)?.serial;
    // Company reaches user14 through Platform Team and Technology: nested groups.
    expect(serial).toBeDefined();

    const moved = `CN=Zoë Married-Name,OU=Engineering,${BASE_DN}`;
    await dc.modify(`dn: ${adUserDn(seeds[14]!, BASE_DN)}\nchangetype: modrdn\nnewrdn: CN=Zoë Married-Name\ndeleteoldrdn: 1\nnewsuperior: OU=Engineering,${BASE_DN}\n`);
    await dc.modify(`dn: ${moved}\nchangetype: modify\nreplace: sn\nsn: Married-Name\n-\nreplace: displayName\ndisplayName: Zoë Married-Name\n`);
    const synced = sync('corp');
    expect(synced.stdout).toContain(`${ENABLED - 1} users (0 added, 1 changed, 0 removed)`);
    const after = byAccount(users('corp'), 14)!;
    expect(after).toMatchObject({ id: before.id, lastName: 'Married-Name', displayName: 'Zoë Married-Name', email: before.email });
    // Its groups followed it: AD keeps the member values pointing at the moved entry.
    expect(after.groups).toEqual(before.groups);
    expect(apply().code).toBe(0);
    expect(certificate(upn)?.serial).toBe(serial);
  });

  it('reads a group of more than MaxValRange members range by range, from a proxy that ranges as Active Directory does', async () => {
    const proxy = await rangingProxyFor(netns, dc);
    try {
      // The proxy answers as MS-ADTS 3.1.1.3.1.3.3 says: 1,500 values, then the rest up to *.
      const client = new Client({ url: `ldaps://127.0.0.1:${proxy.port}`, tlsOptions: { ca: proxy.caPem } });
      await client.bind(dc.bindDn, dc.bindPassword);
      // The attributes the entry came with (ldapts also lists the one asked for, without values).
      const valuesOf = async (attribute: string) => {
        const entry = (await client.search(adGroupDn(allStaff, BASE_DN), { scope: 'base', attributes: [attribute] })).searchEntries[0]!;
        return Object.fromEntries(Object.entries(entry).filter(([name, v]) => name !== 'dn' && v.length));
      };
      const first = await valuesOf('member');
      expect(Object.keys(first)).toEqual(['member;range=0-1499']);
      expect(first['member;range=0-1499']).toHaveLength(1500);
      const rest = await valuesOf('member;range=1500-*');
      expect(Object.keys(rest)).toEqual(['member;range=1500-*']);
      expect(rest['member;range=1500-*']).toHaveLength(100);
      await client.unbind();

      // Through the agent, in the customer network, to the proxy bridged in there.
      ws.write('config/proxy-ca.pem', proxy.caPem);
      write(
        bothSources() +
          doc(
            'LdapSource',
            'ranged',
            `connectorRef: { name: dc }
directoryType: ActiveDirectory
url: ldaps://127.0.0.1:${proxy.port}
tls: { caCertificates: { file: proxy-ca.pem }, serverName: localhost }
bindDn: "${dc.bindDn}"
bindPasswordSecretRef: { name: corp-ad, key: password }
baseDn: "${dc.baseDn}"`,
          ),
      );
      expect(apply().code).toBe(0);
      // Run aside, not blocking this process, where the proxy runs.
      const synced = await mdmopsAsync(['sync', 'LdapSource/ranged'], { cwd: ws.dir, env: env() });
      expect(synced.code, synced.stderr).toBe(0);
      const all = users('ranged');
      // Members past the first 1,500 are in the group too, as the first ones are.
      const index = (u: DirectoryUser) => Number(/^user(\d+)@/.exec(u.upn)?.[1] ?? -1);
      const members = all.filter((u) => index(u) >= 0 && index(u) < 1600);
      expect(members.length).toBeGreaterThan(1550);
      for (const u of members) expect(u.groups, u.upn).toContain('All Staff');
      expect(all.filter((u) => u.groups.includes('All Staff'))).toHaveLength(members.length);
    } finally {
      await proxy.stop();
    }
  });
});
