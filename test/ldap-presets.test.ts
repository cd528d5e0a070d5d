// What an LdapSource reads with: its directoryType's defaults under the fields its spec gives.
import { describe, expect, it } from 'vitest';
import { ldapReadSettings, ldapSourceSpec } from '../src/api/index.js';
import { guidString } from '../src/identity/ldap-directory.js';

const spec = (extra: Record<string, unknown>) =>
  ldapSourceSpec.parse({ connectorRef: { name: 'dc' }, url: 'ldaps://dc.corp.test', bindDn: 'cn=x', bindPasswordSecretRef: { name: 'x', key: 'y' }, baseDn: 'dc=corp,dc=test', ...extra });

describe('ldapReadSettings', () => {
  it('gives Generic the OpenLDAP defaults, as before directoryType', () => {
    expect(ldapReadSettings(spec({}))).toEqual({
      userFilter: '(objectClass=inetOrgPerson)',
      groupFilter: '(objectClass=groupOfNames)',
      attributeMapping: { uid: 'uid', userPrincipalName: 'userPrincipalName', email: 'mail', firstName: 'givenName', lastName: 'sn', displayName: 'cn', memberOf: 'memberOf', groupName: 'cn', groupMember: 'member' },
    });
  });

  it('gives ActiveDirectory its filters, enabled accounts only, objectGUID as id and displayName', () => {
    const settings = ldapReadSettings(spec({ directoryType: 'ActiveDirectory' }));
    expect(settings.userFilter).toBe('(&(&(objectCategory=person)(objectClass=user))(!(userAccountControl:1.2.840.113556.1.4.803:=2)))');
    expect(settings.groupFilter).toBe('(objectClass=group)');
    expect(settings.attributeMapping).toMatchObject({ uid: 'objectGUID', displayName: 'displayName', email: 'mail', groupMember: 'member' });
  });

  it('keeps each field the spec gives, and the defaults of the others', () => {
    const settings = ldapReadSettings(spec({ directoryType: 'ActiveDirectory', userFilter: '(objectClass=user)', attributeMapping: { email: 'userPrincipalName', uid: 'sAMAccountName' } }));
    // A given userFilter still leaves disabled accounts out, unless told.
    expect(settings.userFilter).toBe('(&(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))');
    expect(settings.attributeMapping).toMatchObject({ uid: 'sAMAccountName', email: 'userPrincipalName', displayName: 'displayName', lastName: 'sn' });
    expect(ldapReadSettings(spec({ directoryType: 'ActiveDirectory', includeDisabledUsers: true })).userFilter).toBe('(&(objectCategory=person)(objectClass=user))');
  });
});

describe('guidString', () => {
  it("writes objectGUID's bytes as AD shows the GUID: the first three fields little-endian", () => {
    expect(guidString('2cf4dfb59fa71a4c85851a4f73a5aa14')).toBe('b5dff42c-a79f-4c1a-8585-1a4f73a5aa14');
    // Anything but 16 bytes of hex is left as it came.
    expect(guidString('abc')).toBe('abc');
  });
});
