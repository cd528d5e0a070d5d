// A real, private OpenLDAP slapd on loopback for tests: a fresh mdb database, its own CA and server
// certificate (StartTLS on ldap:// and ldaps://), the memberof overlay so users in groupOfNames groups
// get memberOf. Seeded through ldapadd/ldapmodify/ldapdelete, as an administrator would. Gone, with its
// temp dir, after stop().
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { issueCert, makeCa } from './certs.js';
import { freePort } from './ports.js';
import { spawnServer, stopServer } from './process.js';
import type { NetNs } from './netns.js';

export interface LdapUserSeed {
  uid: string;
  cn: string;
  sn: string;
  mail?: string;
  /** Extra attributes, single or multi-valued; objectClass values here are added to inetOrgPerson. */
  attributes?: Record<string, string | string[]>;
}

export interface SlapdServer {
  /** ldap://127.0.0.1:PORT, StartTLS available. */
  url: string;
  /** ldaps://127.0.0.1:TLSPORT */
  ldapsUrl: string;
  /** The CA that signed slapd's TLS certificate (SANs IP:127.0.0.1 and DNS:localhost). */
  caPem: string;
  /** dc=example,dc=test; users under ou=people, groups under ou=groups. */
  baseDn: string;
  /** The rootdn: no size or time limits. */
  bindDn: string;
  bindPassword: string;
  /** Adds users (inetOrgPerson, uid=<uid>,ou=people,<baseDn>) with one ldapadd of one LDIF. */
  addUsers(users: LdapUserSeed[]): Promise<void>;
  /** Adds a groupOfNames cn=<name>,ou=groups,<baseDn> with the users as members (at least one: the schema requires it). */
  addGroup(name: string, memberUids: string[]): Promise<void>;
  /** ldapadd of this LDIF (entries of any shape, under the base DN). */
  add(ldif: string): Promise<void>;
  /** ldapmodify with this LDIF (changetype: add/modify/delete/modrdn records). */
  modify(ldif: string): Promise<void>;
  /** Deletes uid=<uid>,ou=people,<baseDn>; the memberof overlay drops it from its groups, except from one it is the last member of. */
  deleteUser(uid: string): Promise<void>;
  /** Kills slapd and removes the temp dir; safe to call more than once. */
  stop(): Promise<void>;
}

const SLAPD = '/usr/sbin/slapd';
const TOOLS = ['ldapsearch', 'ldapadd', 'ldapmodify'];
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';
const BASE_DN = 'dc=example,dc=test';
const ROOT_DN = `cn=admin,${BASE_DN}`;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

const run = promisify(execFile);

/** The tools must not pick up ~/.ldaprc, /etc/ldap/ldap.conf or LDAP* variables of whoever runs the tests. */
const TOOL_ENV = { ...process.env, LDAPNOINIT: '1' };

function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

function requireBinaries(): void {
  const missing = [existsSync(SLAPD) ? undefined : `${SLAPD} (Debian package slapd)`, ...TOOLS.map((t) => (which(t) ? undefined : `${t} (Debian package ldap-utils)`)), which('openssl') ? undefined : 'openssl (Debian package openssl)'].filter(Boolean);
  if (missing.length) throw new Error(`not found: ${missing.join(', ')}: run scripts/ensure-deps.sh --for-tests`);
  if (!existsSync(join(MODULE_DIR, 'back_mdb.la')) && !existsSync(join(MODULE_DIR, 'back_mdb.so'))) {
    throw new Error(`no slapd modules in ${MODULE_DIR}: run scripts/ensure-deps.sh --for-tests`);
  }
}

/** Runs an LDAP tool with input on stdin; rejects with its stderr. stdout is discarded (ldapadd prints a line per entry). */
export function runWithInput(command: string, args: string[], input: string, what: string, netns?: NetNs, env: NodeJS.ProcessEnv = TOOL_ENV): Promise<void> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = netns ? netns.wrap(command, args) : [command, args];
    const child = spawn(cmd, argv, { stdio: ['pipe', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-16_384); });
    child.stdin.on('error', () => {}); // EPIPE when the tool gives up early: its exit code and stderr tell why
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${what}: ${command} failed (${code ?? signal}): ${stderr.trim()}`));
    });
    child.stdin.end(input);
  });
}

// ---- LDIF and DN encoding ----

/** RFC 2849 SAFE-STRING; anything else (non-ASCII, leading space/colon/<, trailing space) goes base64 as `attr:: ...`. */
export function ldifLine(attr: string, value: string): string {
  const safe = /^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(value) && !value.endsWith(' ');
  if (value === '') return `${attr}:`;
  return safe ? `${attr}: ${value}` : `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}`;
}

/** RFC 4514 escaping of an RDN value. */
export function rdnValue(value: string): string {
  return value
    .replace(/[\\,+"<>;=]/g, (c) => `\\${c}`)
    .replace(/^[ #]/, (c) => `\\${c}`)
    .replace(/ $/, '\\ ')
    .replace(/\0/g, '\\00');
}

export function userDn(uid: string): string {
  return `uid=${rdnValue(uid)},ou=people,${BASE_DN}`;
}

export function groupDn(name: string): string {
  return `cn=${rdnValue(name)},ou=groups,${BASE_DN}`;
}

function values(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function userEntry(user: LdapUserSeed): string {
  const extra = { ...user.attributes };
  const objectClasses = [...new Set(['inetOrgPerson', ...values(extra.objectClass ?? extra.objectclass)])];
  delete extra.objectClass;
  delete extra.objectclass;
  const lines = [ldifLine('dn', userDn(user.uid)), ...objectClasses.map((oc) => ldifLine('objectClass', oc))];
  lines.push(ldifLine('uid', user.uid), ldifLine('cn', user.cn), ldifLine('sn', user.sn));
  if (user.mail !== undefined) lines.push(ldifLine('mail', user.mail));
  for (const [attr, v] of Object.entries(extra)) for (const one of values(v)) lines.push(ldifLine(attr, one));
  return lines.join('\n') + '\n';
}

// ---- TLS ----

/** A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost. */
async function makeCertificates(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = await makeCa(dir, 'ca', 'mdmops test LDAP CA');
  const server = await issueCert(dir, ca, 'server', { subject: '/CN=localhost', usage: 'serverAuth', san: 'IP:127.0.0.1,DNS:localhost' });
  return { ca: ca.cert, ...server };
}

function slapdConf(dir: string, dbDir: string, tls: { ca: string; cert: string; key: string }, password: string): string {
  return `${['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include ${SCHEMA_DIR}/${s}.schema`).join('\n')}
modulepath ${MODULE_DIR}
moduleload back_mdb
moduleload memberof
pidfile ${join(dir, 'slapd.pid')}
argsfile ${join(dir, 'slapd.args')}
TLSCACertificateFile ${tls.ca}
TLSCertificateFile ${tls.cert}
TLSCertificateKeyFile ${tls.key}

database mdb
directory ${dbDir}
# The map is sparse: 4 GiB of address space, only what is written takes disk (100,000 users: ~80 MB).
maxsize 4294967296
# Durability buys nothing for a throwaway directory; without it each add waits for an fsync.
dbnosync
suffix "${BASE_DN}"
rootdn "${ROOT_DN}"
rootpw ${password}
limits dn.exact="${ROOT_DN}" size=unlimited time=unlimited
# Few indexes: each costs on every add (cn sub and mail doubled the time to add 100,000 users).
index objectClass eq
index uid eq
index member,memberOf eq

overlay memberof
# Deleting or renaming a user updates the groups that list it, as directories people run do; but not a
# group it is the last member of (groupOfNames must keep one member): that one keeps the dangling DN.
memberof-refint TRUE
`;
}

async function ldapsearchReady(url: string, netns?: NetNs): Promise<void> {
  const args = ['-x', '-H', url, '-b', '', '-s', 'base', '-o', 'nettimeout=2', 'namingContexts'];
  const [cmd, argv] = netns ? netns.wrap('ldapsearch', args) : ['ldapsearch', args];
  await run(cmd, argv, { env: TOOL_ENV, timeout: 5_000 });
}

/** With `netns`, slapd runs inside that network (and is seeded from inside): mdmops reaches it only through a connector. */
export async function startSlapd(options: { netns?: NetNs } = {}): Promise<SlapdServer> {
  const { netns } = options;
  requireBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-slapd-'));
  const dbDir = join(dir, 'db');
  mkdirSync(dbDir);
  const bindPassword = randomBytes(12).toString('base64url');
  const confFile = join(dir, 'slapd.conf');

  let tls: { ca: string; cert: string; key: string };
  try {
    tls = await makeCertificates(dir);
    writeFileSync(confFile, slapdConf(dir, dbDir, tls, bindPassword), { mode: 0o600 });
    await run(SLAPD, ['-Ttest', '-f', confFile, '-u']);
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: string; message: string };
    throw new Error(`preparing slapd failed: ${err.stderr || err.message}`);
  }
  const caPem = readFileSync(tls.ca, 'utf8');

  const port = await freePort();
  let tlsPort = await freePort();
  while (tlsPort === port) tlsPort = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${tlsPort}`;

  // -d 0: stay in the foreground (our child is slapd itself, and gets our signals) and log nothing but trouble.
  // Run as whoever we are (root in CI): no -u/-g, the temp dir is ours.
  const [command, args] = netns ? netns.wrap(SLAPD, ['-f', confFile, '-h', `${url}/ ${ldapsUrl}/`, '-d', '0']) : [SLAPD, ['-f', confFile, '-h', `${url}/ ${ldapsUrl}/`, '-d', '0']];
  const server = spawnServer(command, args, dir, 'SIGKILL');
  const { child } = server;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await stopServer(server, STOP_TIMEOUT_MS);
      rmSync(dir, { recursive: true, force: true });
    })());

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      await ldapsearchReady(url, netns);
      break;
    } catch (e) {
      if (!server.running() || Date.now() > deadline) {
        await stop();
        const why = server.running() ? `did not answer within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${child.exitCode ?? child.signalCode}`;
        throw new Error(`slapd on ports ${port}/${tlsPort} ${why} (last error: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()})\n${server.log()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const auth = (target: string) => ['-x', '-H', target, '-D', ROOT_DN, '-w', bindPassword];
  const ldapadd = (ldif: string, what: string) => runWithInput('ldapadd', auth(url), ldif, what, netns);
  const ldapmodify = (ldif: string, what: string) => runWithInput('ldapmodify', auth(url), ldif, what, netns);

  try {
    await ldapadd(
      [
        `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n`,
        `dn: ou=people,${BASE_DN}\nobjectClass: organizationalUnit\nou: people\n`,
        `dn: ou=groups,${BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n`,
      ].join('\n'),
      'base entries',
    );
  } catch (e) {
    await stop();
    throw new Error(`seeding the slapd base entries failed: ${(e as Error).message}\n${server.log()}`);
  }

  return {
    url,
    ldapsUrl,
    caPem,
    baseDn: BASE_DN,
    bindDn: ROOT_DN,
    bindPassword,
    async addUsers(users) {
      if (users.length) await ldapadd(users.map(userEntry).join('\n'), `adding ${users.length} users`);
    },
    async addGroup(name, memberUids) {
      if (!memberUids.length) throw new Error(`group ${name}: groupOfNames needs at least one member`);
      const lines = [ldifLine('dn', groupDn(name)), 'objectClass: groupOfNames', ldifLine('cn', name), ...memberUids.map((uid) => ldifLine('member', userDn(uid)))];
      await ldapadd(lines.join('\n') + '\n', `adding group ${name}`);
    },
    add: (ldif) => ldapadd(ldif, 'add'),
    modify: (ldif) => ldapmodify(ldif, 'modify'),
    async deleteUser(uid) {
      await ldapmodify(`${ldifLine('dn', userDn(uid))}\nchangetype: delete\n`, `deleting user ${uid}`);
    },
    stop,
  };
}

// ---- Generated test data ----

const NAMES: Array<[given: string, surname: string]> = [
  ['Alex', 'Smith'],
  ['Renée', 'Dupré'],
  ['Jürgen', 'Müller'],
  ['Sam', 'Jones'],
  ['太郎', '漢字'],
  ['Zoë', 'Brontë'],
  ['Chris', 'Taylor'],
];

const DEPARTMENTS = ['Engineering', 'Sales', 'Finance', 'Support', 'R&D'];

/**
 * N deterministic users user0..user<N-1>: cn "<given> <surname> <i>" where about half the names are
 * non-ASCII (é, ü, ë, 漢字); mail user<i>@example.test; employeeNumber <i>; departmentNumber except for
 * every 10th user (user9, user19, ...); description none, one value or two (i % 3 === 0: two, i % 3 === 1: one).
 */
export function generatedUsers(n: number): LdapUserSeed[] {
  const users: LdapUserSeed[] = [];
  for (let i = 0; i < n; i++) {
    const [given, surname] = NAMES[i % NAMES.length]!;
    const attributes: Record<string, string | string[]> = {
      givenName: given,
      displayName: `${given} ${surname}`,
      employeeNumber: String(i),
    };
    if (i % 10 !== 9) attributes.departmentNumber = DEPARTMENTS[i % DEPARTMENTS.length]!;
    if (i % 3 === 0) attributes.description = [`badge ${i}`, `floor ${i % 7}`];
    else if (i % 3 === 1) attributes.description = `badge ${i}`;
    users.push({ uid: `user${i}`, cn: `${given} ${surname} ${i}`, sn: surname, mail: `user${i}@example.test`, attributes });
  }
  return users;
}
