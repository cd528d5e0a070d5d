// Benchmark: identity sources synced through their providers (as `mdmops sync` does, into a SQLite
// store), against floors measured in the same run:
// - LdapSource: N users (default 100,000) from a real slapd through a real connector agent (what the
//   tunnel adds alone is bench/tunnel.ts's), against ldapsearch with paging dumping the same entries
//   (users and groups, the same attributes) to /dev/null;
// - EntraIdSource: N users from the Graph emulator, against a plain fetch of the same pages;
// - LdapSource with directoryType ActiveDirectory: BENCH_AD_USERS users (default 20,000) from a real
//   Samba AD DC over LDAPS, through an agent in the DC's network namespace, against ldapsearch with
//   paging of the same entries there.
// Prints users per second, the ratios and the peak RSS of each sync's process.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { userSelect } from '../src/identity/entra-directory.js';
import { startEntra } from '../test/servers/entra.js';
import { generatedUsers, startSlapd } from '../test/servers/slapd.js';
import { startNetNs } from '../test/servers/netns.js';
import { adUserDn, startSambaDc, type AdGroupSeed, type AdUserSeed } from '../test/servers/samba.js';
import { PAGE, time, USERS } from './sync-common.js';
import { startConnectorWorld } from './connector-world.js';
import { CHILD, doc, syncInChild, workspace, type Measured } from './source-workspace.js';

const GOAL = 1.5;

const rate = (ms: number, users = USERS) => `${Math.round((users * 1000) / ms).toLocaleString('en-US')} users/s`;

/** Floor and syncs are measured this many times each, alternately, and the best of each compared: the machine may be shared. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS must be a whole number of runs, 1 or more: ${process.env.BENCH_RUNS}`);

/**
 * Each run syncs a copy of the workspace made before any sync (`template`), so each first sync
 * starts from an empty store.
 */
async function report(what: string, floor: () => Promise<number>, template: string, kind: string, name: string, env: NodeJS.ProcessEnv = {}, delta = false, users = USERS) {
  const floors: number[] = [];
  const firsts: Measured[] = [];
  const nexts: Measured[] = [];
  for (let run = 0; run < RUNS; run++) {
    floors.push(await floor());
    const dir = `${template}-run${run}`;
    // Not the server's socket: the copy's syncs reach the agent through the template's server.
    cpSync(template, dir, { recursive: true, filter: (path) => !path.endsWith('.sock') });
    try {
      firsts.push(syncInChild(dir, kind, name, 'first', { ...env, BENCH_USERS: String(users) }));
      nexts.push(syncInChild(dir, kind, name, 'next', { ...env, BENCH_USERS: String(users) }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const floorMs = Math.min(...floors);
  const best = (runs: Measured[]) => ({ ms: Math.min(...runs.map((r) => r.ms)), peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)) });
  const all = (runs: number[]) => (runs.length > 1 ? ` (runs: ${runs.map((ms) => ms.toFixed(0)).join(', ')} ms)` : '');
  const first = best(firsts);
  const next = best(nexts);
  console.log(`  floor (${what}): ${floorMs.toFixed(0)} ms = ${rate(floorMs, users)}${all(floors)}`);
  const rss = (m: Measured) => `peak RSS ${m.peakRssMiB.toFixed(0)} MiB (goal: under 400)`;
  console.log(`  first sync (every user written): ${first.ms.toFixed(0)} ms = ${rate(first.ms, users)}, ${(first.ms / floorMs).toFixed(2)}x the floor (goal ${GOAL}x); ${rss(first)}${all(firsts.map((r) => r.ms))}`);
  if (delta) console.log(`  next sync (a delta round, nothing changed): ${next.ms.toFixed(0)} ms; ${rss(next)}${all(nexts.map((r) => r.ms))}`);
  else console.log(`  next sync (nothing changed): ${next.ms.toFixed(0)} ms = ${rate(next.ms, users)}, ${(next.ms / floorMs).toFixed(2)}x the floor (goal ${GOAL}x); ${rss(next)}${all(nexts.map((r) => r.ms))}`);
  if (RUNS > 1) console.log(`  best of ${RUNS} runs each, floor and syncs taken in turn; peak RSS is the highest of the runs`);
}

async function ldap() {
  const slapd = await startSlapd();
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-sync-'));
  try {
    const seedStart = Date.now();
    const users = generatedUsers(USERS);
    for (let i = 0; i < USERS; i += 20_000) await slapd.addUsers(users.slice(i, i + 20_000));
    for (let g = 0; g < 20; g++) await slapd.addGroup(`team-${g}`, users.filter((_, i) => i % 20 === g).map((u) => u.uid));
    console.log(`LdapSource: ${USERS.toLocaleString('en-US')} users in 20 groups loaded into slapd in ${((Date.now() - seedStart) / 1000).toFixed(0)} s; page size ${PAGE}`);
    const config =
      doc('Connector', 'dc', 'hosting: OnPremises') +
      doc('LdapSource', 'corp', `connectorRef: { name: dc }\nurl: ${slapd.url}\ninsecure: true\nbindDn: "${slapd.bindDn}"\nbindPasswordSecretRef: { name: corp, key: password }\nbaseDn: "${slapd.baseDn}"\ncustomAttributes: [{ name: department, attribute: departmentNumber }, { name: description }]\npageSize: ${PAGE}`);
    mkdirSync(join(dir, 'secrets', 'corp'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'corp', 'password'), slapd.bindPassword);
    const { engine } = await workspace(dir, config);
    await engine.store.close();
    // The directory is reached through a real agent, as a user's sync does.
    const world = await startConnectorWorld(dir);

    const attributes = ['uid', 'userPrincipalName', 'mail', 'cn', 'givenName', 'sn', 'memberOf', 'departmentNumber', 'description'];
    const ldapsearch = (filter: string, attrs: string[]) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn('ldapsearch', ['-LLL', '-x', '-H', slapd.url, '-D', slapd.bindDn, '-w', slapd.bindPassword, '-b', slapd.baseDn, '-E', `pr=${PAGE}/noprompt`, filter, ...attrs], {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: { ...process.env, LDAPNOINIT: '1' },
        });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ldapsearch exited ${code}`))));
      });
    const floor = () =>
      time(async () => {
        await ldapsearch('(objectClass=groupOfNames)', ['cn', 'member']);
        await ldapsearch('(objectClass=inetOrgPerson)', attributes);
      });
    try {
      await report('ldapsearch, paged, users and groups to /dev/null', floor, dir, 'LdapSource', 'corp', { BENCH_TUNNEL_SOCKET: world.socket });
    } finally {
      await world.stop();
    }
    const alone = JSON.parse(execFileSync(process.execPath, [CHILD, 'ldapts', slapd.url, slapd.bindDn, slapd.bindPassword, slapd.baseDn, attributes.join(',')], { encoding: 'utf8' })) as { ms: number; peakRssMiB: number };
    console.log(`  for scale: the same searches with ldapts and nothing else, once: ${alone.ms.toFixed(0)} ms, peak RSS ${alone.peakRssMiB.toFixed(0)} MiB`);
  } finally {
    await slapd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const GRAPH_PAGE = 200;

async function entra() {
  const seedStart = Date.now();
  // Graph's own page size for users and groups delta (about 200, whatever is asked): the emulator
  // caps pages there, for the sync and the floor alike.
  const emulator = await startEntra({ users: USERS, groups: 20, pageSize: GRAPH_PAGE });
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-sync-'));
  try {
    console.log(`EntraIdSource: ${USERS.toLocaleString('en-US')} users in 20 groups in the Graph emulator (started in ${((Date.now() - seedStart) / 1000).toFixed(1)} s); page size ${GRAPH_PAGE}, as Graph's`);
    const custom = [{ name: 'department' }, { name: 'costCenter', attribute: 'onPremisesExtensionAttributes.extensionAttribute1' }];
    const config = doc('EntraIdSource', 'contoso', `displayName: Contoso\ntenantId: ${emulator.tenantId}\nclientId: ${emulator.clientId}\nclientSecretRef: { name: entra, key: secret }\nauthorityHost: ${emulator.url}\ngraphEndpoint: ${emulator.url}\nincludeGuests: true\nincludeDisabledUsers: true\ncustomAttributes: ${JSON.stringify(custom)}`);
    mkdirSync(join(dir, 'secrets', 'entra'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'entra', 'secret'), emulator.secret);
    const { engine } = await workspace(dir, config);
    await engine.store.close();
    const env = { NODE_EXTRA_CA_CERTS: emulator.caFile };
    const token = await emulator.request('POST', emulator.tokenEndpoint, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: emulator.clientId, client_secret: emulator.secret, scope: `${emulator.url}/.default` }).toString(),
    });
    const floor = async () =>
      JSON.parse(
        execFileSync(process.execPath, [CHILD, 'graph-floor', emulator.url, token.json.access_token, userSelect(custom)], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] }),
      ) as number;
    await report('fetch of the same users and groups delta pages', floor, dir, 'EntraIdSource', 'contoso', env, true);
  } finally {
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function activeDirectory() {
  const count = Number(process.env.BENCH_AD_USERS ?? 20_000);
  const seedStart = Date.now();
  const netns = await startNetNs();
  const seeds: AdUserSeed[] = Array.from({ length: count }, (_, i) => ({ sAMAccountName: `user${i}`, givenName: `Given${i}`, sn: `Family${i}`, ou: `Site${i % 4}`, mail: `user${i}@corp.example.test` }));
  const groups: AdGroupSeed[] = Array.from({ length: 20 }, (_, g) => ({ name: `team-${g}`, ou: 'Groups', members: seeds.filter((_, i) => i % 20 === g).map((u) => adUserDn(u, 'DC=corp,DC=example,DC=test')) }));
  const dc = await startSambaDc({ netns, users: seeds, groups });
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-sync-'));
  try {
    // The domain's own enabled accounts (Administrator, dns-DC1) are users too.
    const users = (await dc.search(['-b', dc.baseDn, '-E', `pr=${PAGE}/noprompt`, '(&(objectCategory=person)(objectClass=user)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))', '1.1'])).match(/^dn:/gm)!.length;
    console.log(`LdapSource (ActiveDirectory): ${users.toLocaleString('en-US')} users in 20 groups loaded into a Samba AD DC in ${((Date.now() - seedStart) / 1000).toFixed(0)} s; page size ${PAGE}`);
    mkdirSync(join(dir, 'config'), { recursive: true });
    writeFileSync(join(dir, 'config', 'dc-ca.pem'), dc.caPem);
    const config =
      doc('Connector', 'dc', 'hosting: OnPremises') +
      doc('LdapSource', 'corp', `connectorRef: { name: dc }\ndirectoryType: ActiveDirectory\nurl: ${dc.ldapsUrl}\ntls: { caCertificates: { file: dc-ca.pem }, serverName: ${dc.serverName} }\nbindDn: "${dc.bindDn}"\nbindPasswordSecretRef: { name: corp, key: password }\nbaseDn: "${dc.baseDn}"\npageSize: ${PAGE}`);
    mkdirSync(join(dir, 'secrets', 'corp'), { recursive: true });
    writeFileSync(join(dir, 'secrets', 'corp', 'password'), dc.bindPassword);
    const { engine } = await workspace(dir, config);
    await engine.store.close();
    const world = await startConnectorWorld(dir, 'dc', netns);
    // What the preset reads: the users (enabled) and the groups, over LDAPS, paged, to /dev/null.
    const attributes = ['objectGUID', 'userPrincipalName', 'mail', 'displayName', 'givenName', 'sn', 'memberOf', 'uid'];
    const ldapsearch = (filter: string, attrs: string[]) =>
      new Promise<void>((resolve, reject) => {
        const args = ['-LLL', '-x', '-H', dc.ldapsUrl, '-D', dc.bindDn, '-w', dc.bindPassword, '-b', dc.baseDn, '-E', `pr=${PAGE}/noprompt`, filter, ...attrs];
        // No certificate check for the floor (the DC's certificate names no 127.0.0.1): the sync checks its own.
        const child = spawn(...netns.wrap('ldapsearch', args), { stdio: ['ignore', 'ignore', 'inherit'], env: { PATH: process.env.PATH, LDAPCONF: '/dev/null', LDAPRC: '/dev/null', LDAPTLS_REQCERT: 'never' } });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ldapsearch exited ${code}`))));
      });
    const floor = () =>
      time(async () => {
        await ldapsearch('(objectClass=group)', ['cn', 'member']);
        await ldapsearch('(&(&(objectCategory=person)(objectClass=user))(!(userAccountControl:1.2.840.113556.1.4.803:=2)))', attributes);
      });
    try {
      await report('ldapsearch over LDAPS in the namespace, paged, users and groups', floor, dir, 'LdapSource', 'corp', { BENCH_TUNNEL_SOCKET: world.socket }, false, users);
    } finally {
      await world.stop();
    }
  } finally {
    await dc.stop();
    await netns.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const which = (process.env.BENCH_SOURCES ?? 'ldap,entra,ad').split(',');
if (which.includes('ldap')) await ldap();
if (which.includes('entra')) await entra();
if (which.includes('ad')) await activeDirectory();
