// The LDAP search decoder (src/identity/ldap-search.ts) against a real slapd: what it reads over
// ldap://, StartTLS and ldaps://, and what it makes of slapd's own bytes when they come cut in any
// place, truncated or corrupted (an error that says what is wrong, never a hang).
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Client, PagedResultsControl, SearchRequest, FilterParser, NoSuchObjectError } from 'ldapts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLdapDirectory, type LdapReadSpec } from '../src/identity/ldap-directory.js';
import { endSearches, LdapProtocolError, MessageFramer, pagedSearch, SearchDecoder, takeSocket, type Values } from '../src/identity/ldap-search.js';
import { startSlapd, type SlapdServer } from './servers/slapd.js';

const ATTRIBUTES = ['uid', 'CN', 'description', 'jpegPhoto', 'memberOf'];
// A JPEG's first bytes: not UTF-8, so given as hex.
const PHOTO = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]);
let slapd: SlapdServer;

beforeAll(async () => {
  slapd = await startSlapd();
  await slapd.addUsers([
    { uid: 'zoe', cn: 'Zoë Ångström', sn: 'Ångström', mail: 'zoe@example.test', attributes: { description: ['first', 'second'] } },
    { uid: 'bob', cn: 'Bob', sn: 'B', attributes: { description: 'only' } },
    ...Array.from({ length: 30 }, (_, i) => ({ uid: `u${i}`, cn: `User ${i}`, sn: 'U' })),
  ]);
  await slapd.modify(`dn: uid=bob,ou=people,${slapd.baseDn}\nchangetype: modify\nadd: jpegPhoto\njpegPhoto:: ${PHOTO.toString('base64')}\n`);
  await slapd.addGroup('staff', ['zoe', 'bob']);
});
afterAll(() => slapd?.stop());

async function bound(url = slapd.url): Promise<Duplex> {
  const client = new Client({ url });
  await client.bind(slapd.bindDn, slapd.bindPassword);
  return takeSocket(client);
}

/** Runs pagedSearch, collecting each entry's values (copied: the array is reused). */
async function collect(socket: Duplex, options: { base?: string; pageSize?: number; timeoutMs?: number } = {}) {
  const entries = new Map<string, Values[]>();
  const pages: number[] = [];
  await pagedSearch(
    socket,
    { base: options.base ?? slapd.baseDn, scope: 'sub', filter: '(objectClass=inetOrgPerson)', attributes: ATTRIBUTES, binary: [], pageSize: options.pageSize ?? 7, timeoutMs: options.timeoutMs ?? 10_000 },
    (dn, v) => entries.set(dn, [...v]),
    (n) => pages.push(n),
  );
  return { entries, pages };
}

/** slapd's answer to one search (message id 1001, as pagedSearch's first page), as the bytes it sent. */
async function rawAnswer(): Promise<Buffer> {
  const socket = await bound();
  const chunks: Buffer[] = [];
  const decoder = new SearchDecoder(ATTRIBUTES, [], () => undefined);
  let done = false;
  const framer = new MessageFramer((buf, start, end) => {
    if (decoder.kind(buf, start, end, 1001) === 0x65) done = true;
  });
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    framer.push(chunk);
  });
  const filter = FilterParser.parseString('(objectClass=inetOrgPerson)');
  socket.write(new SearchRequest({ messageId: 1001, baseDN: slapd.baseDn, scope: 'sub', filter, attributes: ATTRIBUTES, controls: [new PagedResultsControl({ value: { size: 1000 } })] }).write());
  while (!done) await once(socket, 'data');
  endSearches(socket);
  return Buffer.concat(chunks);
}

/** The BER element at `at`: where its content starts and where it ends. */
function tlv(buf: Buffer, at: number) {
  const first = buf[at + 1]!;
  const n = first & 0x80 ? first & 0x7f : 0;
  let len = n ? 0 : first;
  for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i]!;
  const content = at + 2 + n;
  return { at, content, end: content + len };
}

/** Decodes whole bytes fed in chunks of the given sizes (cycled); returns the entries by DN. */
function decode(bytes: Buffer, sizes: number[]) {
  const entries = new Map<string, Values[]>();
  let dones = 0;
  const decoder = new SearchDecoder(ATTRIBUTES, [], (dn, v) => entries.set(dn, [...v]));
  const framer = new MessageFramer((buf, start, end) => {
    const kind = decoder.kind(buf, start, end, 1001);
    if (kind === 0x64) decoder.entry(buf, start, end);
    else if (kind === 0x65) (decoder.done(buf, start, end), dones++);
  });
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    framer.push(bytes.subarray(at, at + n));
    at += n;
  }
  return { entries, dones, partial: framer.partial };
}

describe('paged search decoding', () => {
  it('reads every entry over ldap:// in pages, with non-ASCII, multi-valued and non-UTF-8 values, attribute names in any case', async () => {
    const socket = await bound();
    const { entries, pages } = await collect(socket);
    endSearches(socket);
    expect(entries.size).toBe(32);
    expect(pages.length).toBeGreaterThan(4); // 32 entries in pages of 7
    expect(pages.reduce((a, b) => a + b, 0)).toBe(32);
    const zoe = entries.get(`uid=zoe,ou=people,${slapd.baseDn}`)!;
    expect(zoe[0]).toBe('zoe');
    expect(zoe[1]).toBe('Zoë Ångström');
    expect(zoe[2]).toEqual(['first', 'second']);
    expect(zoe[3]).toBeUndefined();
    expect(zoe[4]).toBe(`cn=staff,ou=groups,${slapd.baseDn}`);
    const bob = entries.get(`uid=bob,ou=people,${slapd.baseDn}`)!;
    expect(bob[2]).toBe('only');
    expect(bob[3]).toBe(PHOTO.toString('hex'));
  });

  it('gives the values of attributes named binary as hex even when they are UTF-8', () => {
    const seen: Values[][] = [];
    const decoder = new SearchDecoder(['uid'], ['UID'], (_dn, v) => seen.push([...v]));
    const entry = Buffer.from([0x30, 0x1a, 0x02, 0x01, 0x05, 0x64, 0x15, 0x04, 0x05, ...Buffer.from('uid=a'), 0x30, 0x0c, 0x30, 0x0a, 0x04, 0x03, ...Buffer.from('UID'), 0x31, 0x03, 0x04, 0x01, 0x61]);
    expect(decoder.kind(entry, 0, entry.length, 5)).toBe(0x64);
    decoder.entry(entry, 0, entry.length);
    expect(seen).toEqual([['61']]);
  });

  it('reads users and groups over StartTLS and over ldaps:// with the CA bundle', async () => {
    const spec: LdapReadSpec = {
      url: slapd.url,
      startTls: true,
      tls: { serverName: 'localhost' },
      bindDn: slapd.bindDn,
      baseDn: slapd.baseDn,
      userFilter: '(objectClass=inetOrgPerson)',
      groupFilter: '(objectClass=groupOfNames)',
      attributeMapping: { uid: 'UID', userPrincipalName: 'mail', email: 'Mail', firstName: 'GivenName', lastName: 'SN', displayName: 'cn', memberOf: 'memberOf', groupName: 'cn', groupMember: 'member' },
      customAttributes: [{ name: 'photo', attribute: 'jpegPhoto' }, { name: 'description' }],
      pageSize: 5,
    };
    for (const s of [spec, { ...spec, url: slapd.ldapsUrl, startTls: false }]) {
      const read = await readLdapDirectory(s, { password: slapd.bindPassword, caPem: slapd.caPem });
      expect(read.users).toHaveLength(32);
      expect(read.groupCount).toBe(1);
      const zoe = read.users.find((u) => u.uid === 'zoe')!;
      expect(zoe).toMatchObject({ upn: 'zoe@example.test', email: 'zoe@example.test', displayName: 'Zoë Ångström', lastName: 'Ångström', groups: ['staff'], attributes: { description: ['first', 'second'] } });
      expect(zoe.firstName).toBeUndefined(); // she has no givenName
      expect(read.users.find((u) => u.uid === 'bob')!.attributes).toEqual({ photo: PHOTO.toString('hex'), description: 'only' });
      expect(read.users.find((u) => u.uid === 'u3')!.groups).toEqual([]);
    }
    // Without the CA, ldaps:// is refused.
    await expect(readLdapDirectory({ ...spec, url: slapd.ldapsUrl, startTls: false }, { password: slapd.bindPassword })).rejects.toThrow(/certificate/i);
  });

  it("gives slapd's error for a failed search", async () => {
    const socket = await bound();
    await expect(collect(socket, { base: `ou=nowhere,${slapd.baseDn}` })).rejects.toBeInstanceOf(NoSuchObjectError);
    expect(socket.destroyed).toBe(true);
  });

  it("decodes slapd's bytes the same however they are cut", async () => {
    const bytes = await rawAnswer();
    const whole = decode(bytes, [bytes.length]);
    expect(whole.entries.size).toBe(32);
    expect(whole.dones).toBe(1);
    for (const sizes of [[1], [2, 3, 5], [7, 300, 1], [64]]) {
      const cut = decode(bytes, sizes);
      expect(cut.entries, String(sizes)).toEqual(whole.entries);
      expect(cut.dones).toBe(1);
      expect(cut.partial).toBe(0);
    }
  });

  it('rejects malformed messages with what is wrong', async () => {
    const bytes = await rawAnswer();
    // Truncated: the last message waits for its end, and is not decoded.
    const truncated = decode(bytes.subarray(0, bytes.length - 3), [100]);
    expect(truncated.dones).toBe(0);
    expect(truncated.partial).toBeGreaterThan(0);
    // Not an LDAPMessage.
    const wrongTag = Buffer.from(bytes);
    wrongTag[0] = 0x31;
    expect(() => decode(wrongTag, [100])).toThrow(/expected an LDAPMessage \(tag 0x30\), got 0x31/);
    expect(() => decode(Buffer.from([0x30, 0x85, 1, 2, 3, 4, 5]), [7])).toThrow(LdapProtocolError);
    // The first entry's attribute list (a SEQUENCE) made an OCTET STRING.
    const message = tlv(bytes, 0);
    const op = tlv(bytes, tlv(bytes, message.content).end);
    expect(bytes[op.at]).toBe(0x64);
    const dn = tlv(bytes, op.content);
    const badInner = Buffer.from(bytes);
    badInner[dn.end] = 0x04;
    expect(() => decode(badInner, [bytes.length])).toThrow(/attributes: expected tag 0x30, got 0x04/);
    // The DN's length running past the message's end.
    const overrun = Buffer.from(bytes);
    overrun.set([0x82, 0xff, 0xff], dn.at + 1);
    expect(() => decode(overrun, [bytes.length])).toThrow(/objectName: truncated \(65535 bytes announced/);
    // An answer to another request.
    const other = new SearchDecoder(ATTRIBUTES, [], () => undefined);
    expect(() => other.kind(bytes, 0, bytes.length, 7)).toThrow(/a response to message 1001 while searching as message 7/);
  });

  describe('over a connection that misbehaves', () => {
    let server: Server;
    let port: number;
    let answer: (socket: Socket) => void;
    beforeAll(async () => {
      server = createServer((s) => s.once('data', () => answer(s)));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => server.close());
    const connectTo = async () => {
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      return socket;
    };

    it('fails, not hangs, when the connection closes within a message', async () => {
      const bytes = await rawAnswer();
      answer = (s) => s.end(bytes.subarray(0, bytes.length - 3));
      await expect(collect(await connectTo(), { pageSize: 1000 })).rejects.toThrow(/connection closed before the search ended \(within a message\)/);
    });

    it('fails, not hangs, on corrupt bytes and on no answer', async () => {
      answer = (s) => s.write(Buffer.from([0x04, 0x02, 0x41, 0x42]));
      await expect(collect(await connectTo())).rejects.toThrow(/malformed LDAP response: expected an LDAPMessage/);
      answer = () => undefined;
      await expect(collect(await connectTo(), { timeoutMs: 300 })).rejects.toThrow(/no answer to a search page within 300 ms/);
    });
  });
});
