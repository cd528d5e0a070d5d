// LdapSource, through the CLI, against a directory shaped unlike the one the other tests generate:
// RFC 2307 users (inetOrgPerson + posixAccount) in two OUs, with escaped and multi-valued RDNs,
// upper-case uids, non-ASCII values and several mail values; groups of three kinds (posixGroup with
// memberUid, groupOfUniqueNames with uniqueMember DNs carrying RFC 4517's optional #'…'B uid, and
// groupOfNames with member, for which the memberof overlay writes memberOf); member DNs written in
// another case, with spaces and escapes other than the users' own; a group as a member of a group;
// an id mapped from employeeNumber, and an account without one.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { generatedUsers, startSlapd, type LdapUserSeed, type SlapdServer } from './servers/slapd.js';
import { connectedAgent } from './support/agent.js';
import { doc, workspace } from './support/workspace.js';
import type { DirectoryUser } from '../src/api/index.js';

const BASE = 'dc=example,dc=test';
const STAFF = `ou=staff,ou=people,${BASE}`;
const CONTRACTORS = `ou=contractors,ou=people,${BASE}`;

/** An RFC 2307 person (inetOrgPerson and posixAccount) as LDIF, its DN as given: the escapes are LDIF's. */
const person = (dn: string, uids: string[], n: number, attributes: Record<string, string | string[]>) =>
  [
    `dn: ${dn}`,
    'objectClass: inetOrgPerson',
    'objectClass: posixAccount',
    ...uids.map((uid) => `uid: ${uid}`),
    `uidNumber: ${n}\ngidNumber: ${n}\nhomeDirectory: /home/${uids[0]!.toLowerCase()}`,
    ...Object.entries(attributes).flatMap(([name, v]) => [v].flat().map((one) => `${name}: ${one}`)),
  ].join('\n') + '\n';

const PEOPLE = [
  person(String.raw`cn=Doe\, Jane+uid=jdoe,${STAFF}`, ['jdoe'], 1001, {
    cn: 'Doe, Jane', sn: 'Doe', displayName: 'Jane Doe', employeeNumber: 'E1001', mail: ['jane.doe@example.test', 'jdoe@example.test'], departmentNumber: 'Engineering', loginShell: '/bin/bash',
  }),
  person(String.raw`cn=Müller\2C Hans,${STAFF}`, ['hmueller'], 1002, {
    cn: 'Müller, Hans', sn: 'Müller', displayName: 'Hans Müller', employeeNumber: 'E1002', mail: 'hans.mueller@example.test', departmentNumber: 'Forschung & Entwicklung', loginShell: '/bin/zsh',
  }),
  // No mail.
  person(`uid=ASmith,${STAFF}`, ['ASmith'], 1003, { cn: 'Alice Smith', sn: 'Smith', displayName: 'Alice Smith', employeeNumber: 'E1003', departmentNumber: 'Sales', loginShell: '/bin/bash' }),
  // No departmentNumber.
  person(`uid=KLEE,${CONTRACTORS}`, ['KLEE'], 2001, { cn: 'Kim Lee', sn: 'Lee', displayName: 'Kim Lee', employeeNumber: 'C2001', mail: 'kim.lee@partner.example', loginShell: '/bin/sh' }),
  person(`cn=Renée O'Brien,${CONTRACTORS}`, ['robrien'], 2002, {
    cn: "Renée O'Brien", sn: "O'Brien", displayName: "Renée O'Brien", employeeNumber: 'C2002', mail: 'renee@partner.example', departmentNumber: 'Support', loginShell: '/bin/sh',
  }),
  // Two uids.
  person(String.raw`cn=Chen\+Wu\, Li,${CONTRACTORS}`, ['lchenwu', 'li.chen'], 2003, {
    cn: 'Chen+Wu, Li', sn: 'Chen-Wu', displayName: '陈武 李', employeeNumber: 'C2003', mail: 'li.chenwu@partner.example', departmentNumber: 'Support', loginShell: '/bin/sh',
  }),
];

// Jane's old account, read after hers: the same uid and employeeNumber, so neither source may take it for her.
const DUPLICATE = person(`uid=jdoe,${CONTRACTORS}`, ['jdoe'], 2099, { cn: 'Jane Doe (old)', sn: 'Doe', displayName: 'Jane Doe (old)', employeeNumber: 'E1001', mail: 'jane.old@partner.example' });

// Raw: the backslashes are LDIF's (RFC 4514 escapes in DNs). OpenLDAP's tools take UTF-8 values as they are.
const DIRECTORY = String.raw`
dn: ${STAFF}
objectClass: organizationalUnit
ou: staff

dn: ${CONTRACTORS}
objectClass: organizationalUnit
ou: contractors

${PEOPLE.join('\n')}
${DUPLICATE}
dn: uid=backup,ou=people,${BASE}
objectClass: account
objectClass: posixAccount
uid: backup
uidNumber: 900
gidNumber: 900
homeDirectory: /home/backup
cn: Backup Service

dn: cn=developers,ou=groups,${BASE}
objectClass: posixGroup
cn: developers
gidNumber: 5001
memberUid: jdoe
memberUid: hmueller
memberUid: asmith
memberUid: li.chen
memberUid: ghost

dn: cn=contractors,ou=groups,${BASE}
objectClass: posixGroup
cn: contractors
gidNumber: 5002
memberUid: klee
memberUid: robrien
memberUid: lchenwu

dn: cn=empty,ou=groups,${BASE}
objectClass: posixGroup
cn: empty
gidNumber: 5003

dn: cn=VPN Users,ou=groups,${BASE}
objectClass: groupOfUniqueNames
cn: VPN Users
uniqueMember: uid=jdoe+cn=Doe\2C Jane, ou=Staff, ou=People, dc=example, dc=test#'0'B
uniqueMember: CN=Müller\,  Hans,OU=staff,ou=people,dc=EXAMPLE,dc=test
uniqueMember: cn=contractors,ou=groups,${BASE}

dn: cn=Auditors,ou=groups,${BASE}
objectClass: groupOfUniqueNames
cn: Auditors
uniqueMember: uid=klee,${CONTRACTORS}#'1'B
uniqueMember: cn=Chen\2BWu\2C Li,OU=Contractors,OU=People,${BASE.toUpperCase()}

dn: cn=wifi,ou=groups,${BASE}
objectClass: groupOfNames
cn: wifi
member: cn=Renée O'Brien,${CONTRACTORS}
member: UID=asmith, ${STAFF}
`;

// And people in no group, uid=user<i>,ou=people with employeeNumber <i>: so that one user deleted is
// not more than the 10% a round may delete unconfirmed.
const FILLERS: LdapUserSeed[] = generatedUsers(14).map((u, i) => ({
  ...u,
  attributes: { ...u.attributes, objectClass: 'posixAccount', uidNumber: String(3000 + i), gidNumber: '3000', homeDirectory: `/home/${u.uid}` },
}));
const NAMED = ['C2001', 'C2002', 'C2003', 'E1001', 'E1002', 'E1003'];

let slapd: SlapdServer;
beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.add(DIRECTORY);
  await slapd.addUsers(FILLERS);
});
afterAll(() => slapd?.stop());

const ws = workspace();
const env = () => ({ MDMOPS_SECRET_CORP_LDAP__PASSWORD: slapd.bindPassword });
const source = (name: string, spec: string) =>
  doc('LdapSource', name, `connectorRef: { name: dc }\nurl: ${slapd.url}\ninsecure: true\nbindDn: "${slapd.bindDn}"\nbindPasswordSecretRef: { name: corp-ldap, key: password }\nbaseDn: "${slapd.baseDn}"\n${spec}`);
const sync = (name: string) => ws.run(['sync', `LdapSource/${name}`], env());
const users = async (name: string): Promise<Map<string, DirectoryUser>> => {
  const store = await openStore(parseStoreSpec(`sqlite:${join(ws.dir, '.mdmops/tenant.db')}`));
  try {
    const prefix = `LdapSource/${name}/`;
    return new Map((await store.listUsers('default')).filter((u) => u.id.startsWith(prefix)).map((u) => [u.id.slice(prefix.length), u]));
  } finally {
    await store.close();
  }
};
/** What a user is expected to see of each: the groups in any order. */
const seen = (u: DirectoryUser | undefined) => u && { upn: u.upn, email: u.email, displayName: u.displayName, groups: [...u.groups].sort(), attributes: u.attributes };
const sorted = (...groups: string[]) => groups.sort();

describe('LdapSource against a directory unlike ours', () => {
  it('applies two sources on the directory', async () => {
    ws.write('config/ldap.yaml', doc('Connector', 'dc', 'hosting: OnPremises'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    await connectedAgent(ws);
    ws.write(
      'config/ldap.yaml',
      doc('Connector', 'dc', 'hosting: OnPremises') +
        // Every kind of group; the id from employeeNumber.
        source(
          'heldout',
          `userSearchBase: "ou=people,${BASE}"
userFilter: (objectClass=posixAccount)
groupSearchBase: "ou=groups,${BASE}"
groupFilter: (|(objectClass=posixGroup)(objectClass=groupOfUniqueNames)(objectClass=groupOfNames))
attributeMapping: { uid: employeeNumber, email: mail, displayName: displayName, groupMember: "memberUid, uniqueMember, member" }
customAttributes: [{ name: department, attribute: departmentNumber }, { name: addresses, attribute: mail }, { name: shell, attribute: loginShell }]
pageSize: 2`,
        ) +
        // RFC 2307 alone, with the default mapping otherwise: ids are the uids, in their case.
        source('posix', 'userFilter: (objectClass=posixAccount)\ngroupFilter: (objectClass=posixGroup)\nattributeMapping: { groupMember: memberUid }'),
    );
    const applied = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(applied.code, applied.stderr).toBe(0);
  });

  it('gives every user of every OU its groups of all three kinds, upn, e-mail, display name and attributes, and says which entry it skipped', async () => {
    const first = sync('heldout');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('LdapSource/heldout: 20 users (20 added, 0 changed, 0 removed)');
    const all = await users('heldout');
    expect([...all.keys()].sort()).toEqual([...FILLERS.map((_, i) => String(i)), ...NAMED].sort());
    for (const [i, filler] of FILLERS.entries()) expect(all.get(String(i))).toMatchObject({ displayName: filler.attributes!.displayName, email: filler.mail, groups: [] });
    expect(seen(all.get('E1001'))).toEqual({
      upn: 'jane.doe@example.test',
      email: 'jane.doe@example.test',
      displayName: 'Jane Doe',
      groups: sorted('developers', 'VPN Users'),
      attributes: { department: 'Engineering', addresses: ['jane.doe@example.test', 'jdoe@example.test'], shell: '/bin/bash' },
    });
    expect(seen(all.get('E1002'))).toEqual({
      upn: 'hans.mueller@example.test',
      email: 'hans.mueller@example.test',
      displayName: 'Hans Müller',
      groups: sorted('developers', 'VPN Users'),
      attributes: { department: 'Forschung & Entwicklung', addresses: 'hans.mueller@example.test', shell: '/bin/zsh' },
    });
    // No mail: no e-mail, and the id stands for the UPN. memberUid "asmith" names uid ASmith (uid ignores case).
    expect(seen(all.get('E1003'))).toEqual({ upn: 'E1003', email: undefined, displayName: 'Alice Smith', groups: sorted('developers', 'wifi'), attributes: { department: 'Sales', shell: '/bin/bash' } });
    expect(seen(all.get('C2001'))).toEqual({
      upn: 'kim.lee@partner.example',
      email: 'kim.lee@partner.example',
      displayName: 'Kim Lee',
      groups: sorted('contractors', 'Auditors'),
      attributes: { addresses: 'kim.lee@partner.example', shell: '/bin/sh' },
    });
    expect(seen(all.get('C2002'))?.groups).toEqual(sorted('contractors', 'wifi'));
    expect(seen(all.get('C2002'))?.displayName).toBe("Renée O'Brien");
    // Li has two uids: memberUid names either.
    expect(seen(all.get('C2003'))).toMatchObject({ displayName: '陈武 李', groups: sorted('contractors', 'Auditors', 'developers') });
    // The group among VPN Users' members is neither a user nor followed: contractors are not VPN users.
    for (const id of ['C2001', 'C2002', 'C2003']) expect(all.get(id)!.groups).not.toContain('VPN Users');

    const status = JSON.parse(ws.run(['status', 'LdapSource/heldout', '-o', 'json']).stdout).status;
    expect(status).toMatchObject({ userCount: 20, groupCount: 6 });
    // The service account has no employeeNumber: it cannot be followed from one sync to the next, and the user is told.
    expect(first.stderr).toContain(`1 entry has no employeeNumber (the id attribute) and was skipped: uid=backup,ou=people,${BASE}`);
    // Jane's old account has her employeeNumber: the first read (hers, above) keeps it, and the user is told.
    expect(first.stderr).toContain(`1 entry has the employeeNumber of an entry read before it and was skipped: uid=jdoe,${CONTRACTORS}`);
    expect(first.stderr).toContain('department (missing on 2 of 20 users)'); // KLEE and user9
    expect(first.stderr).toContain('addresses (missing on 1 of 20 users)');
    const notes = ws.run(['notifications']).stdout;
    expect(notes).toContain('LdapUsersSkipped');
    expect(notes).toContain('LdapSomeAttributesNotSynced');
  });

  it('changes nothing on a second sync', async () => {
    const before = await users('heldout');
    const again = sync('heldout');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('LdapSource/heldout: 20 users (0 added, 0 changed, 0 removed)');
    expect(await users('heldout')).toEqual(before);
  });

  it('follows a changed name, a membership taken away, a user deleted and one added, and forgets the skipped entry once it is gone', async () => {
    await slapd.add(person(`uid=nnew,${CONTRACTORS}`, ['nnew'], 2004, { cn: 'Noor New', sn: 'New', displayName: 'Noor New', employeeNumber: 'C2004', mail: 'noor@partner.example' }));
    await slapd.modify(
      [
        `dn: uid=KLEE,${CONTRACTORS}\nchangetype: modify\nreplace: displayName\ndisplayName: Kim Lee-Park\n`,
        `dn: cn=developers,ou=groups,${BASE}\nchangetype: modify\ndelete: memberUid\nmemberUid: hmueller\n`,
        `dn: cn=Renée O'Brien,${CONTRACTORS}\nchangetype: delete\n`,
        `dn: cn=VPN Users,ou=groups,${BASE}\nchangetype: modify\nadd: uniqueMember\nuniqueMember: UID=NNEW,${CONTRACTORS}\n`,
        `dn: uid=backup,ou=people,${BASE}\nchangetype: delete\n`,
        `dn: uid=jdoe,${CONTRACTORS}\nchangetype: delete\n`,
      ].join('\n'),
    );
    const changed = sync('heldout');
    expect(changed.code, changed.stderr).toBe(0);
    expect(changed.stdout).toContain('LdapSource/heldout: 20 users (1 added, 2 changed, 1 removed)');
    const all = await users('heldout');
    expect(all.has('C2002')).toBe(false);
    expect(all.get('C2001')!.displayName).toBe('Kim Lee-Park');
    expect(all.get('E1002')!.groups).toEqual(['VPN Users']);
    expect(seen(all.get('C2004'))).toMatchObject({ upn: 'noor@partner.example', displayName: 'Noor New', groups: ['VPN Users'] });
    // The memberof overlay took the deleted user out of wifi; its memberUid in contractors names no one now.
    expect(all.get('E1003')!.groups).toEqual(sorted('developers', 'wifi'));
    expect(changed.stderr).not.toContain('skipped');
    expect(ws.run(['notifications']).stdout).not.toContain('LdapUsersSkipped');
  });

  it('reads posixGroup members with the default mapping, the uids kept in their case as ids, and no group the group filter left out', async () => {
    const first = sync('posix');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('LdapSource/posix: 20 users (20 added, 0 changed, 0 removed)');
    const all = await users('posix');
    for (const filler of FILLERS) expect(all.get(filler.uid)!.groups).toEqual([]);
    const groups = Object.fromEntries([...all].filter(([id]) => !/^user\d+$/.test(id)).map(([id, u]) => [id, [...u.groups].sort()]));
    // memberOf gives wifi (a groupOfNames, not a posixGroup) to ASmith: the group filter leaves it out.
    expect(groups).toEqual({ jdoe: ['developers'], ASmith: ['developers'], KLEE: ['contractors'], lchenwu: ['contractors', 'developers'], nnew: [], hmueller: [] });
    expect(all.get('jdoe')).toMatchObject({ displayName: 'Doe, Jane', email: 'jane.doe@example.test', upn: 'jane.doe@example.test' });
    // No mail: the uid stands for the UPN.
    expect(all.get('ASmith')).toMatchObject({ displayName: 'Alice Smith', upn: 'ASmith' });
    expect(all.get('ASmith')!.email).toBeUndefined();
    expect(JSON.parse(ws.run(['status', 'LdapSource/posix', '-o', 'json']).stdout).status).toMatchObject({ userCount: 20, groupCount: 3 });
    expect(sync('posix').stdout).toContain('LdapSource/posix: 20 users (0 added, 0 changed, 0 removed)');
  });
});
