// A real Active Directory domain controller for tests: Samba's (Debian `samba`), in a network
// namespace the test makes, since its ports are fixed (389, 636, ...). The domain is provisioned
// once per realm and Samba version (samba-tool domain provision, about 4 s), its users and groups
// loaded in bulk with one ldbadd before any DC runs on it, and kept as a template under
// ~/.cache/mdmops/samba, copied for each DC; entries are changed later over LDAPS with
// ldapmodify, as an administrator would.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NetNs } from './netns.js';
import { spawnServer, stopServer, type ServerProcess } from './process.js';
import { ldifLine, rdnValue, runWithInput } from './slapd.js';

export interface AdUserSeed {
  sAMAccountName: string;
  givenName: string;
  sn: string;
  /** The OU it lives in, under the base DN. */
  ou: string;
  mail?: string;
  disabled?: boolean;
}

export interface AdGroupSeed {
  name: string;
  /** Member DNs: users and groups. */
  members: string[];
  /** The OU it lives in, under the base DN. */
  ou: string;
}

export interface SambaDc {
  realm: string;
  /** DC=corp,DC=example,DC=test */
  baseDn: string;
  /** Administrator's DN. */
  bindDn: string;
  bindPassword: string;
  /** ldaps://127.0.0.1 and ldap://127.0.0.1 (StartTLS), inside the namespace. */
  ldapsUrl: string;
  ldapUrl: string;
  /** The name in the DC's certificate (no subjectAltName): LdapSource's tls.serverName. */
  serverName: string;
  /** The CA that signed the DC's own certificate, made at its first start. */
  caPem: string;
  /** ldapmodify of this LDIF over LDAPS (changetype records). */
  modify(ldif: string): Promise<void>;
  /** The objectGUID of an account, in the string form Samba's own ldbsearch shows. */
  guidOf(sAMAccountName: string): Promise<string>;
  /** ldapsearch over LDAPS inside the namespace: its LDIF output. */
  search(args: string[]): Promise<string>;
  /**
   * The spec lines of an LdapSource reading this DC through Connector/dc, its CA in dc-ca.pem and
   * the administrator's password in the Secret corp-ad/password: a test adds its own.
   */
  sourceSpec(url?: string): string;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 60_000;
const HOST = 'DC1';
const run = promisify(execFile);

const baseDnOf = (realm: string) => realm.split('.').map((part) => `DC=${part.toLowerCase()}`).join(',');
export const adUserDn = (user: AdUserSeed, baseDn: string) => `CN=${rdnValue(`${user.givenName} ${user.sn}`)},OU=${rdnValue(user.ou)},${baseDn}`;
export const adGroupDn = (group: AdGroupSeed, baseDn: string) => `CN=${rdnValue(group.name)},OU=${rdnValue(group.ou)},${baseDn}`;

/** 544: normal account (0x200) whose password is not required (0x20); 546 adds disabled (0x2). */
const userAccountControl = (disabled?: boolean) => (disabled ? '546' : '544');

export function adUserEntry(user: AdUserSeed, realm: string, baseDn: string): string {
  const lines = [
    ldifLine('dn', adUserDn(user, baseDn)),
    'objectClass: user',
    ldifLine('sAMAccountName', user.sAMAccountName),
    ldifLine('userPrincipalName', `${user.sAMAccountName}@${realm.toLowerCase()}`),
    ldifLine('givenName', user.givenName),
    ldifLine('sn', user.sn),
    ldifLine('displayName', `${user.givenName} ${user.sn}`),
    `userAccountControl: ${userAccountControl(user.disabled)}`,
  ];
  if (user.mail) lines.push(ldifLine('mail', user.mail));
  return lines.join('\n') + '\n';
}

function groupEntry(group: AdGroupSeed, baseDn: string): string {
  // A pre-Windows 2000 name cannot hold " [ ] : ; | = + * ? < > / \ or a comma.
  const account = group.name.replace(/["[\]:;|=+*?<>/\\,]/g, '_');
  const lines = [ldifLine('dn', adGroupDn(group, baseDn)), 'objectClass: group', ldifLine('sAMAccountName', account), ...group.members.map((m) => ldifLine('member', m))];
  return lines.join('\n') + '\n';
}

const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'mdmops', 'samba');

/**
 * A domain folder (`dom`, and the Administrator's `password`) made once under the cache: filled in
 * a temp folder, then renamed into place, so test files making the same one at once do not meet.
 */
async function cached(name: string, make: (into: string) => Promise<void>): Promise<{ dir: string; password: string }> {
  const path = join(CACHE, name);
  if (!existsSync(join(path, 'password'))) {
    mkdirSync(CACHE, { recursive: true });
    const building = mkdtempSync(`${path}.building-`);
    try {
      await make(building);
    } catch (e) {
      rmSync(building, { recursive: true, force: true });
      throw e;
    }
    try {
      renameSync(building, path);
    } catch {
      rmSync(building, { recursive: true, force: true }); // another test file made it first: theirs is as good
    }
  }
  return { dir: join(path, 'dom'), password: readFileSync(join(path, 'password'), 'utf8') };
}

const sambaVersion = () => execFileSync('samba', ['-V'], { encoding: 'utf8' }).trim().replace(/[^\w.-]+/g, '_');

/** The provisioned domain for this realm (samba-tool domain provision, about 4 s). */
function provisioned(realm: string) {
  return cached(`${sambaVersion()}-${realm}`, async (into) => {
    // Upper, lower case and digits, as the domain's password policy wants.
    const password = `Ad-${randomBytes(12).toString('hex')}-X9`;
    try {
      await run('samba-tool', [
        'domain', 'provision', `--realm=${realm}`, `--domain=${realm.split('.')[0]}`, '--server-role=dc', '--dns-backend=NONE',
        `--adminpass=${password}`, `--targetdir=${join(into, 'dom')}`, `--host-name=${HOST}`, '--use-rfc2307',
        '--option=interfaces=lo', '--option=bind interfaces only=yes',
      ], { timeout: 120_000 });
    } catch (e) {
      const err = e as Error & { stderr?: string };
      throw new Error(`samba-tool domain provision failed (run scripts/ensure-deps.sh --for-tests): ${err.stderr?.slice(-2000) || err.message}`);
    }
    writeFileSync(join(into, 'password'), password);
  });
}

/**
 * That domain with these entries added by one ldbadd, before any DC runs on it. Kept too: Samba
 * adds accounts the slower the more the domain holds (measured here: 5,000 into an empty domain in
 * 50 s, the next 5,000 in 110 s), so a first run takes minutes; a later one copies them.
 */
async function seeded(realm: string, ldif: string) {
  const base = await provisioned(realm);
  if (!ldif) return base;
  return cached(`${sambaVersion()}-${realm}-${createHash('sha256').update(ldif).digest('hex').slice(0, 16)}`, async (into) => {
    cpSync(base.dir, join(into, 'dom'), { recursive: true });
    const file = join(into, 'seed.ldif');
    writeFileSync(file, ldif);
    // ldbadd goes on past an entry it refuses: what it added is counted against what it was given.
    const entries = ldif.split(/^dn:/m).length - 1;
    const added = await run('ldbadd', ['--nosync', '-H', join(into, 'dom', 'private', 'sam.ldb'), file], { timeout: 3_600_000, maxBuffer: 64 * 1024 * 1024 }).then(
      ({ stdout, stderr }) => ({ count: Number(/Added (\d+) records/.exec(stdout)?.[1] ?? 0), stderr }),
      (e: Error & { stderr?: string }) => ({ count: -1, stderr: e.stderr || e.message }),
    );
    if (added.count !== entries) throw new Error(`ldbadd of the seed added ${added.count} of ${entries} entries: ${added.stderr.slice(-2000)}`);
    rmSync(file);
    writeFileSync(join(into, 'password'), base.password);
  });
}

/**
 * smb.conf names its folders by absolute path: the copy's own, and everything else a DC writes at
 * run time (pid files, sockets, logs) kept in it too, so DCs in several namespaces do not meet.
 * Only the LDAP server runs: it is all the tests speak to.
 */
function rewriteConfig(conf: string, to: string): string {
  // Where it was provisioned (the template's temp name): the lock directory is the domain's root.
  const from = /^\s*lock directory = (.+)$/m.exec(conf)?.[1];
  if (!from) throw new Error('the template smb.conf has no lock directory line');
  const runDir = join(to, 'run');
  const own = [`pid directory = ${runDir}`, `ncalrpc dir = ${runDir}/ncalrpc`, `winbindd socket directory = ${runDir}/winbindd`, `ntp signd socket directory = ${runDir}/ntp_signd`, `log file = ${to}/log.%m`, 'server services = ldap'];
  return conf
    .split(from)
    .join(to)
    .split('\n')
    .filter((line) => !/^\s*(server services|log file)\s*=/.test(line))
    .join('\n')
    .replace('[global]\n', `[global]\n${own.map((l) => `\t${l}\n`).join('')}`);
}

/**
 * Starts a DC in `netns` with these users and groups loaded (OUs made for them), and `entries`
 * (LDIF, added after them: entries elsewhere, in the configuration partition say).
 */
export async function startSambaDc(options: { netns: NetNs; realm?: string; users?: AdUserSeed[]; groups?: AdGroupSeed[]; entries?: string }): Promise<SambaDc> {
  const realm = options.realm ?? 'CORP.EXAMPLE.TEST';
  const baseDn = baseDnOf(realm);
  const users = options.users ?? [];
  const groups = options.groups ?? [];
  const ous = [...new Set([...users.map((u) => u.ou), ...groups.map((g) => g.ou)])];
  const ldif = [
    ...ous.map((ou) => `dn: OU=${rdnValue(ou)},${baseDn}\nobjectClass: organizationalUnit\n`),
    ...users.map((u) => adUserEntry(u, realm, baseDn)),
    ...groups.map((g) => groupEntry(g, baseDn)),
    ...(options.entries ? [options.entries] : []),
  ].join('\n');
  const { dir: templateDir, password } = await seeded(realm, ldif);
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-samba-'));
  const dom = join(dir, 'dom');
  cpSync(templateDir, dom, { recursive: true });
  mkdirSync(join(dom, 'run'));
  const conf = join(dom, 'etc', 'smb.conf');
  writeFileSync(conf, rewriteConfig(readFileSync(conf, 'utf8'), dom));

  // Samba's own process model (prefork), as a DC serves connections at once, in a session of its
  // own (setsid): its workers outlive it by a moment, and are stopped, and waited for, as one group.
  const [command, args] = options.netns.wrap('setsid', ['samba', '-F', '-M', 'prefork', '-s', conf]);
  const server: ServerProcess = spawnServer(command, args, dir, 'SIGKILL', join(dir, 'samba.log'));
  const pidFile = join(dom, 'run', 'samba.pid');
  const group = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined);
  let groupId: number | undefined;
  const signalGroup = (signal: NodeJS.Signals | 0) => {
    try {
      return groupId !== undefined && process.kill(-groupId, signal);
    } catch {
      return false; // the group is gone
    }
  };
  const killGroup = () => signalGroup('SIGKILL');
  process.on('exit', killGroup);
  const stop = async () => {
    process.off('exit', killGroup);
    signalGroup('SIGTERM');
    for (let i = 0; signalGroup(0) && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    killGroup();
    for (let i = 0; signalGroup(0) && i < 100; i++) await new Promise((r) => setTimeout(r, 50));
    await stopServer(server, 5_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const caFile = join(dom, 'private', 'tls', 'ca.pem');
  for (const deadline = Date.now() + START_TIMEOUT_MS; !(existsSync(caFile) && (await options.netns.listening(636))); ) {
    groupId ??= group();
    if (!server.running() || Date.now() > deadline) {
      // It logs to log.samba, as smb.conf says.
      const logFile = join(dom, 'log.samba');
      const log = `${server.log()}${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-8000) : ''}`;
      await stop();
      throw new Error(`samba ${server.running() ? `did not listen on 636 within ${START_TIMEOUT_MS / 1000} s` : 'exited'}:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  groupId ??= group();

  const bindDn = `CN=Administrator,CN=Users,${baseDn}`;
  const ldapsUrl = 'ldaps://127.0.0.1';
  // The test's own administration tools check no certificate (the DC's names no 127.0.0.1); mdmops,
  // under test, checks it against caPem and serverName.
  const toolEnv = { PATH: process.env.PATH, LDAPCONF: '/dev/null', LDAPRC: '/dev/null', LDAPTLS_REQCERT: 'never' };
  const auth = ['-H', ldapsUrl, '-x', '-D', bindDn, '-w', password];
  const serverName = `${HOST}.${realm.toLowerCase()}`;
  return {
    realm,
    baseDn,
    bindDn,
    bindPassword: password,
    ldapsUrl,
    ldapUrl: 'ldap://127.0.0.1',
    serverName,
    caPem: readFileSync(caFile, 'utf8'),
    modify: (changes) => runWithInput('ldapmodify', auth, changes, 'ldapmodify on the Samba DC', options.netns, toolEnv),
    async guidOf(account) {
      // Across partitions: an account may live outside the domain's (in the configuration partition).
      const { stdout } = await run('ldbsearch', ['-H', join(dom, 'private', 'sam.ldb'), '--cross-ncs', `(sAMAccountName=${account})`, 'objectGUID']);
      const guid = /^objectGUID: (\S+)$/m.exec(stdout)?.[1];
      if (!guid) throw new Error(`no objectGUID for ${account}: ${stdout}`);
      return guid;
    },
    sourceSpec(url = ldapsUrl) {
      return `connectorRef: { name: dc }
directoryType: ActiveDirectory
url: ${url}
tls: { caCertificates: { file: dc-ca.pem }, serverName: ${serverName} }
bindDn: "${bindDn}"
bindPasswordSecretRef: { name: corp-ad, key: password }
baseDn: "${baseDn}"`;
    },
    async search(searchArgs) {
      const [cmd, argv] = options.netns.wrap('ldapsearch', ['-LLL', '-o', 'ldif-wrap=no', ...auth, ...searchArgs]);
      return (await run(cmd, argv, { env: toolEnv, maxBuffer: 256 * 1024 * 1024 })).stdout;
    },
    stop,
  };
}
