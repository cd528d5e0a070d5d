// Which search continuation references an LdapSource follows (RFC 4511 4.5.3), and where to.
import { describe, expect, it } from 'vitest';
import { chooseReferral, MAX_REFERRAL_HOPS, nextSearches, parseLdapUrl, searchKey, type ReferredSearch } from '../src/identity/ldap-referrals.js';

const server = { host: '127.0.0.1', port: 636, aliases: ['corp.example.test'] };
const BASE = 'DC=corp,DC=example,DC=test';

describe('parseLdapUrl', () => {
  it('reads host, port, DN, scope and filter, percent-decoded (RFC 4516)', () => {
    expect(parseLdapUrl(`ldaps://corp.example.test/CN=Configuration,${BASE}`)).toEqual({ host: 'corp.example.test', dn: `CN=Configuration,${BASE}` });
    expect(parseLdapUrl('ldap://DC1.Corp.Example.Test:3268/OU=R%26D%20Lab,DC=x??one?(cn=a%20b)')).toEqual({ host: 'dc1.corp.example.test', port: 3268, dn: 'OU=R&D Lab,DC=x', scope: 'one', filter: '(cn=a b)' });
    expect(parseLdapUrl('ldap://[::1]/DC=x')).toMatchObject({ host: '::1' });
  });

  it('says why it cannot follow one', () => {
    expect(parseLdapUrl('https://corp.example.test/')).toBe('https: is not LDAP');
    expect(parseLdapUrl('ldap://h/DC=x??subtree')).toBe('unknown scope subtree');
    expect(parseLdapUrl('ldap://h/DC=x????!1.2.3')).toBe('it has a critical extension (RFC 4516 2.1)');
  });
});

describe('chooseReferral', () => {
  it('follows a URL naming the server, by its host or an alias, in the scope the URL gives or the search had', () => {
    expect(chooseReferral([`ldaps://corp.example.test/CN=Configuration,${BASE}`], server, 'sub')).toEqual({ follow: { base: `CN=Configuration,${BASE}`, scope: 'sub' } });
    expect(chooseReferral([`ldap://127.0.0.1:636/CN=Configuration,${BASE}??base`], server, 'one')).toEqual({ follow: { base: `CN=Configuration,${BASE}`, scope: 'base' } });
    // Any of a reference's URLs continues the search: the first that names the server.
    expect(chooseReferral(['ldap://elsewhere.test/DC=x', 'ldap://CORP.example.test/DC=y'], server, 'sub')).toEqual({ follow: { base: 'DC=y', scope: 'sub' } });
  });

  it('refuses another host, another port of the server, or no DN, naming each URL', () => {
    const choice = chooseReferral(['ldap://child.corp.example.test/DC=child', 'ldap://corp.example.test:3268/DC=x', 'ldap://corp.example.test/'], server, 'sub');
    expect(choice).toEqual({
      refused:
        'ldap://child.corp.example.test/DC=child: child.corp.example.test is neither the host of url nor one of serverAliases; ldap://corp.example.test:3268/DC=x: port 3268 is not the port of url (636); ldap://corp.example.test/: no DN to continue from',
    });
  });
});

describe('nextSearches', () => {
  const from: ReferredSearch = { base: BASE, scope: 'sub', filter: '(objectClass=user)', hops: 0 };

  it('goes on with the search filter, or the one the URL gives, one hop further', () => {
    const seen = new Set([searchKey(from)]);
    const { next, refused } = nextSearches(from, [[`ldaps://corp.example.test/CN=Configuration,${BASE}`], ['ldap://corp.example.test/DC=x??one?(cn=*)'], ['ldap://other.test/DC=y']], server, seen);
    expect(next).toEqual([
      { base: `CN=Configuration,${BASE}`, scope: 'sub', filter: '(objectClass=user)', hops: 1 },
      { base: 'DC=x', scope: 'one', filter: '(cn=*)', hops: 1 },
    ]);
    expect(refused).toEqual(['ldap://other.test/DC=y: other.test is neither the host of url nor one of serverAliases']);
  });

  it('does not loop: a search made already, however its DN is spelled, is not made again', () => {
    const seen = new Set([searchKey(from)]);
    const back = [[`ldap://corp.example.test/dc=corp, dc=example, dc=test`]];
    expect(nextSearches(from, back, server, seen)).toEqual({ next: [], refused: [] });
    // Two references to one place: one search.
    const twice = [[`ldap://corp.example.test/CN=Configuration,${BASE}`], [`ldap://127.0.0.1/cn=configuration,${BASE}`]];
    expect(nextSearches(from, twice, server, seen).next).toHaveLength(1);
  });

  it(`stops ${MAX_REFERRAL_HOPS} referrals deep, and says so`, () => {
    const deep = { ...from, hops: MAX_REFERRAL_HOPS };
    const { next, refused } = nextSearches(deep, [['ldap://corp.example.test/DC=deeper']], server, new Set([searchKey(deep)]));
    expect(next).toEqual([]);
    expect(refused).toEqual([`ldap://corp.example.test/DC=deeper: more than ${MAX_REFERRAL_HOPS} referrals deep`]);
  });
});
