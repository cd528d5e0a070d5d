// The private OpenLDAP slapd the LDAP tests run against: seeded, searched and reached over TLS with the
// OpenLDAP command-line tools, so what the tests rely on is checked independently of the code under test.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedUsers, startSlapd, type SlapdServer } from './servers/slapd.js';

const USERS = 2000;
let slapd: SlapdServer;
let dir: string;
let caFile: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mdmops-slapd-test-'));
  slapd = await startSlapd();
  caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, slapd.caPem);
  await slapd.addUsers(generatedUsers(USERS));
  await slapd.addGroup('trio', ['user1', 'user2', 'user3']);
});
afterAll(async () => {
  await slapd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Entry {
  dn: string;
  attrs: Record<string, string[]>;
}

/** Parses unwrapped -LLL output, decoding `attr:: base64` values. */
function parseLdif(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const block of text.split(/\n{2,}/)) {
    const lines = block.split('\n').filter((l) => l && !l.startsWith('#'));
    if (!lines.length) continue;
    const entry: Entry = { dn: '', attrs: {} };
    for (const line of lines) {
      const m = /^([^:]+)(::?) ?(.*)$/.exec(line);
      if (!m) throw new Error(`not LDIF: ${line}`);
      const value = m[2] === '::' ? Buffer.from(m[3]!, 'base64').toString('utf8') : m[3]!;
      if (m[1] === 'dn') entry.dn = value;
      else (entry.attrs[m[1]!] ??= []).push(value);
    }
    entries.push(entry);
  }
  return entries;
}

/** ldapsearch as the rootdn, paged; TLS trust only through the environment given (never the system's config). */
function search(args: { url?: string; startTls?: boolean; env?: NodeJS.ProcessEnv; base?: string; filter?: string; attrs?: string[] } = {}): Entry[] {
  const out = execFileSync(
    'ldapsearch',
    [
      '-x', '-LLL', '-o', 'ldif-wrap=no',
      ...(args.startTls ? ['-ZZ'] : []),
      '-H', args.url ?? slapd.url,
      '-D', slapd.bindDn, '-w', slapd.bindPassword,
      '-E', 'pr=500/noprompt',
      '-b', args.base ?? slapd.baseDn,
      args.filter ?? '(objectClass=*)',
      ...(args.attrs ?? []),
    ],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: args.env ?? { ...process.env, LDAPNOINIT: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return parseLdif(out);
}

const tlsEnv = (ca: string) => ({ ...process.env, LDAPTLS_CACERT: ca, LDAPTLS_REQCERT: 'demand' });

describe('private slapd', () => {
  it('returns every generated user through a paged search', () => {
    const people = search({ base: `ou=people,${slapd.baseDn}`, filter: '(objectClass=inetOrgPerson)', attrs: ['uid'] });
    expect(people).toHaveLength(USERS);
    expect(new Set(people.map((e) => e.attrs.uid?.[0]))).toEqual(new Set(generatedUsers(USERS).map((u) => u.uid)));
  });

  it('gives group members memberOf, when asked for it', () => {
    const [member] = search({ filter: '(uid=user2)', attrs: ['memberOf'] });
    expect(member!.attrs.memberOf).toEqual([`cn=trio,ou=groups,${slapd.baseDn}`]);
    const [outsider] = search({ filter: '(uid=user4)', attrs: ['memberOf'] });
    expect(outsider!.attrs.memberOf).toBeUndefined();
    // memberOf is operational: not among the user attributes a plain search returns.
    const [plain] = search({ filter: '(uid=user2)' });
    expect(plain!.attrs.memberOf).toBeUndefined();
    const [group] = search({ base: `ou=groups,${slapd.baseDn}`, filter: '(cn=trio)', attrs: ['member'] });
    expect(group!.attrs.member).toEqual([1, 2, 3].map((i) => `uid=user${i},ou=people,${slapd.baseDn}`));
  });

  it('speaks StartTLS and ldaps with a certificate from its CA', async () => {
    const env = tlsEnv(caFile);
    const ask = { filter: '(uid=user1)', attrs: ['uid'], env };
    expect(search({ ...ask, startTls: true })[0]!.attrs.uid).toEqual(['user1']);
    expect(search({ ...ask, url: slapd.ldapsUrl })[0]!.attrs.uid).toEqual(['user1']);
    expect(slapd.ldapsUrl).toMatch(/^ldaps:\/\/127\.0\.0\.1:\d+$/);

    // Trust is real: with some other CA, both refuse.
    const otherCa = join(dir, 'other-ca.pem');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'other-ca.key'), '-out', otherCa, '-days', '1', '-subj', '/CN=other CA']);
    const untrusted = { ...ask, env: tlsEnv(otherCa) };
    expect(() => search({ ...untrusted, startTls: true })).toThrow();
    expect(() => search({ ...untrusted, url: slapd.ldapsUrl })).toThrow();
  });

  it('keeps non-ASCII, multi-valued and missing attributes as seeded', () => {
    const seeds = generatedUsers(USERS);
    const nonAscii = seeds.filter((u) => /[^\x00-\x7f]/.test(u.cn));
    expect(nonAscii.map((u) => u.cn).join('')).toMatch(/é/);
    expect(nonAscii.map((u) => u.cn).join('')).toMatch(/ü/);
    expect(nonAscii.map((u) => u.cn).join('')).toMatch(/漢字/);

    const byUid = new Map(search({ base: `ou=people,${slapd.baseDn}`, filter: '(objectClass=inetOrgPerson)', attrs: ['uid', 'cn', 'description', 'departmentNumber'] }).map((e) => [e.attrs.uid![0]!, e]));
    for (const seed of seeds) {
      const entry = byUid.get(seed.uid)!;
      expect(entry.attrs.cn).toEqual([seed.cn]);
      const description = seed.attributes?.description;
      expect(entry.attrs.description).toEqual(description === undefined ? undefined : [description].flat());
      expect(entry.attrs.departmentNumber).toEqual(seed.attributes?.departmentNumber === undefined ? undefined : [seed.attributes.departmentNumber]);
    }
    expect(seeds.filter((u) => u.attributes?.departmentNumber === undefined).length).toBe(USERS / 10);
    expect(seeds.some((u) => Array.isArray(u.attributes?.description))).toBe(true);

    // A UTF-8 filter finds it too: the server compares the values, not the base64.
    const kanji = nonAscii.find((u) => u.cn.includes('漢字'))!;
    expect(search({ filter: `(cn=${kanji.cn})`, attrs: ['uid'] }).map((e) => e.attrs.uid?.[0])).toEqual([kanji.uid]);
  });

  it('applies modifications and deletions while running', async () => {
    await slapd.addUsers([{ uid: 'late', cn: 'Ève Late', sn: 'Late', attributes: { description: ['one', 'two'] } }]);
    await slapd.modify(`dn: uid=late,ou=people,${slapd.baseDn}\nchangetype: modify\nreplace: cn\ncn:: ${Buffer.from('Ève Renamed').toString('base64')}\n`);
    expect(search({ filter: '(uid=late)', attrs: ['cn', 'description'] })[0]!.attrs).toEqual({ cn: ['Ève Renamed'], description: ['one', 'two'] });
    await slapd.deleteUser('late');
    expect(search({ filter: '(uid=late)' })).toEqual([]);
    await expect(slapd.deleteUser('late')).rejects.toThrow(/No such object/);
    // Removing a member updates the group (memberof-refint).
    await slapd.deleteUser('user3');
    expect(search({ base: `ou=groups,${slapd.baseDn}`, filter: '(cn=trio)', attrs: ['member'] })[0]!.attrs.member).toEqual([1, 2].map((i) => `uid=user${i},ou=people,${slapd.baseDn}`));
  });
});
