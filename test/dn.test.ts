// The one RFC 4514 reader both certificate subjects and directory names use.
import { describe, expect, it } from 'vitest';
import { splitDn } from '../src/util/dn.js';

describe('splitDn', () => {
  it('splits RDNs and multi-valued RDNs, types and values trimmed of the spaces RFC 4514 lets parsers ignore', () => {
    expect(splitDn('CN=alice, OU = R&D + O=Contoso ;DC=example')).toEqual([[['CN', 'alice']], [['OU', 'R&D'], ['O', 'Contoso']], [['DC', 'example']]]);
    expect(splitDn('2.5.4.3=a')).toEqual([[['2.5.4.3', 'a']]]);
  });

  it('undoes escapes: special characters, UTF-8 in hex, and RFC 2253 quotes', () => {
    expect(splitDn('CN=Dupont\\, Zo\\C3\\AB,O=x')).toEqual([[['CN', 'Dupont, Zoë']], [['O', 'x']]]);
    expect(splitDn('cn="Dupont, Zoë" , o=x')).toEqual([[['cn', 'Dupont, Zoë']], [['o', 'x']]]);
    expect(splitDn('cn=a\\+b\\=c\\\\')).toEqual([[['cn', 'a+b=c\\']]]);
  });

  it('drops unescaped spaces at the end of a value and keeps escaped ones', () => {
    expect(splitDn('cn=a  ,o=b')).toEqual([[['cn', 'a']], [['o', 'b']]]);
    expect(splitDn('cn=a\\ ,o=b')).toEqual([[['cn', 'a ']], [['o', 'b']]]);
    expect(splitDn('cn=a\\20 ')).toEqual([[['cn', 'a ']]]);
    expect(splitDn('cn=two  words')).toEqual([[['cn', 'two  words']]]);
  });

  it('is undefined for what is not a DN', () => {
    for (const text of ['alice', '=a', 'cn=a,', 'cn=a\\', 'cn="open', 'c n=a', 'cn=a,b']) expect(splitDn(text), text).toBeUndefined();
  });
});
