// Benchmark: SqlProvisioning of N users (default 100,000) into a real PostgreSQL, a real MariaDB and a
// SQLite file, as a user runs it (`mdmops sync SqlProvisioning/NAME`, a process of its own, timed from
// start to exit), against a floor measured in the same run: the same rows, the same values, written by
// the driver alone into an identical empty table with multi-row INSERTs in one transaction
// (provision-write.ts). The users reach the tenant store as a user's do: an EntraIdSource synced from
// the Graph emulator by `mdmops sync`.
// Per driver: the floor, the first run (every row inserted) and its ratio to the floor (goal 1.5x), the
// second, unchanged run (it must write no row; goal: under a third of the first run's time) and how it
// decided (on the fingerprint the first run left: the source's user version, the layout, and the
// table's checksum computed by its server; or by reading every user and row), and the peak RSS of each
// run's process (goal: under 400 MB). For scale, the least a process of its own can do
// (provision-least.ts: node started, the users read from the tenant store in one SELECT, the floor's
// writes; nothing checked, recorded or read back), timed as the runs are.
import { PEAK_RSS_PRELOAD, timed, type Run } from './timed.js';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { userField } from '../src/identity/user-fields.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { startEntra } from '../test/servers/entra.js';
import { startMariadb } from '../test/servers/mariadb.js';
import { startPostgres } from '../test/servers/postgres.js';
import { time } from './sync-common.js';
import { FLOOR_HOW, writeRows, type Driver, type Row } from './provision-write.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
/** Each driver's floor and runs are measured this many times, in turn, and the best of each compared: the machine may be shared. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS must be a whole number of runs, 1 or more: ${process.env.BENCH_RUNS}`);
const GOAL = 1.5;
/** What `mdmops sync` says of a run that found the users, the layout and the table's checksum as the last run left them. */
const UNCHANGED = 'unchanged since the last run';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BIN = join(ROOT, 'bin/mdmops.js');
const EXPORT = readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8');

/** The table the export names, and the mapping: the anchor (the user's id in Entra ID), then 5 text columns. */
const TABLE = 'users';
const FLOOR_TABLE = 'users_floor';
const LEAST_TABLE = 'users_least';
const MAPPING = [
  { attribute: 'UserPrincipalName', column: 'upn', from: 'userUPN' },
  { attribute: 'Mail', column: 'email', from: 'userEmailAddress' },
  { attribute: 'GivenName', column: 'first_name', from: 'firstName' },
  { attribute: 'Surname', column: 'last_name', from: 'lastName' },
  { attribute: 'Department', column: 'department', from: 'department' },
];
const COLUMNS = ['employee_id', ...MAPPING.map((m) => m.column)];
const ddl = (table: string) =>
  `CREATE TABLE ${table} (employee_id VARCHAR(64) PRIMARY KEY, upn VARCHAR(200), email VARCHAR(200), first_name VARCHAR(100), last_name VARCHAR(100), department VARCHAR(100))`;

/** The application's database as the bench sees it: a connection of its own for its DDL and checks. */
interface AppDb {
  driver: Driver;
  /** The SqlProvisioning resource's name. */
  name: string;
  title: string;
  url: string;
  exec(sql: string): Promise<void>;
  count(sql: string): Promise<number>;
  close(): Promise<void>;
}

async function postgresDb(url: string, version: string): Promise<AppDb> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  return {
    driver: 'PostgreSQL',
    name: 'pg',
    title: `PostgreSQL ${version} (pg)`,
    url,
    exec: async (sql) => void (await admin.query(sql)),
    count: async (sql) => Number((await admin.query(sql)).rows[0].n),
    close: () => admin.end(),
  };
}

async function mariadbDb(url: string): Promise<AppDb> {
  const admin = await mysql.createConnection({ uri: url });
  const [[{ v }]] = (await admin.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]];
  return {
    driver: 'MySQL',
    name: 'mariadb',
    title: `MariaDB ${v.replace(/-.*/, '')} (mysql2)`,
    url,
    exec: async (sql) => void (await admin.query(sql)),
    count: async (sql) => Number(((await admin.query(sql)) as unknown as [{ n: number }[]])[0][0]!.n),
    close: () => admin.end(),
  };
}

function sqliteDb(path: string): AppDb {
  const admin = new Database(path);
  return {
    driver: 'SQLite',
    name: 'sqlite',
    title: `SQLite ${admin.prepare('SELECT sqlite_version() AS v').pluck().get() as string} (better-sqlite3, a file)`,
    url: `sqlite:${path}`,
    exec: async (sql) => void admin.exec(sql),
    count: async (sql) => Number((admin.prepare(sql).get() as { n: number }).n),
    close: async () => void admin.close(),
  };
}

/** Where the tenant store keeps each value of the mapping (provision-least.ts reads them there): a column of its users, or a custom attribute. */
const STORED: Record<string, string> = { userUPN: 'upn', userEmailAddress: 'email', firstName: 'first_name', lastName: 'last_name', department: 'department' };
const SOURCE = 'EntraIdSource/contoso';
const LEAST = join(HERE, 'provision-least.js');

/** `table` holds the same USERS rows as `reference`, both ways. */
async function sameRows(db: AppDb, table: string, reference: string): Promise<void> {
  const except = (a: string, b: string) => db.count(`SELECT count(*) AS n FROM (SELECT ${COLUMNS.join(', ')} FROM ${a} EXCEPT SELECT ${COLUMNS.join(', ')} FROM ${b}) AS d`);
  const differ = (await except(table, reference)) + (await except(reference, table));
  const [rows, inReference] = [await db.count(`SELECT count(*) AS n FROM ${table}`), await db.count(`SELECT count(*) AS n FROM ${reference}`)];
  if (differ || rows !== USERS || inReference !== USERS) throw new Error(`${table} (${rows} rows) and ${reference} (${inReference}) differ in ${differ} rows`);
}

const doc = (kind: string, name: string, spec: string) => `apiVersion: mdmops.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;

/** mdmops ARGS in DIR, in a process of its own: its wall time, from spawn to exit, and its peak RSS. */
function mdmops(dir: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : [];
  return timed(dir, [process.execPath, ...profile, '--import', PEAK_RSS_PRELOAD, BIN, ...args], env, join(dir, 'peak-rss'));
}

const s = (ms: number) => (ms / 1000).toFixed(2);
const all = (runs: number[]) => (runs.length > 1 ? ` (runs: ${runs.map(s).join(', ')} s)` : '');
const met = (ok: boolean) => (ok ? 'met' : 'MISSED');

const benchStart = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-provision-'));
const [postgres, mariadb, entra] = await Promise.all([startPostgres(), startMariadb(), startEntra({ users: USERS, groups: 0 })]);
const dbs: AppDb[] = [];
try {
  const pgVersion = await (async () => {
    const c = new pg.Client({ connectionString: postgres.url });
    await c.connect();
    const v = String((await c.query('SHOW server_version')).rows[0].server_version);
    await c.end();
    return v.replace(/ .*/, '');
  })();
  const sqlitePath = join(dir, 'app.db');
  new Database(sqlitePath).close(); // the database file exists; its table comes later
  const which = (process.env.BENCH_DRIVERS ?? 'pg,mariadb,sqlite').split(',');
  for (const db of [await postgresDb(postgres.url, pgVersion), await mariadbDb(mariadb.url), sqliteDb(sqlitePath)]) {
    if (which.includes(db.name)) dbs.push(db);
    else await db.close();
  }

  // The configuration: the source, and a SqlProvisioning into each database from the example export.
  const mapping = MAPPING.map((m) => `  - { attribute: ${m.attribute}, column: ${m.column}, from: ${m.from} }`).join('\n');
  mkdirSync(join(dir, 'config'));
  writeFileSync(join(dir, 'config', 'hr.xml'), EXPORT);
  writeFileSync(
    join(dir, 'config', 'tenant.yaml'),
    doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }\nincludeGuests: true\nincludeDisabledUsers: true\ncustomAttributes: [{ name: department }]`) +
      dbs
        .map((db) =>
          doc(
            'SqlProvisioning',
            db.name,
            `managementAgentExport: { file: hr.xml }\nconnection: { driver: ${db.driver}, urlSecretRef: { name: ${db.name}, key: url } }\nanchor: { column: employee_id }\nattributeMapping:\n${mapping}\nsourceRef: { kind: EntraIdSource, name: contoso }`,
          ),
        )
        .join(''),
  );
  const env: NodeJS.ProcessEnv = { MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile };
  for (const db of dbs) env[`MDMOPS_SECRET_${db.name.toUpperCase()}__URL`] = db.url;

  // The tables do not exist yet: the runs that follow the apply and the source's sync stop at once
  // (SqlSchemaMismatch), and the first run measured is the one that writes the rows.
  await mdmops(dir, env, 'apply', '-f', 'config', '--auto-approve');
  const synced = await mdmops(dir, env, 'sync', 'EntraIdSource/contoso');
  if (!synced.stdout.includes(`EntraIdSource/contoso: ${USERS} users (${USERS} added`)) throw new Error(`the source's sync did not add ${USERS} users:\n${synced.stdout}${synced.stderr}`);
  console.log(
    `SqlProvisioning: ${USERS.toLocaleString('en-US')} users of an EntraIdSource (synced from the Graph emulator into the SQLite tenant store by mdmops sync in ${s(synced.ms)} s), ` +
      `anchor + ${MAPPING.length} text columns; best of ${RUNS} run${RUNS > 1 ? 's' : ''} each, floor and runs taken in turn; peak RSS is the highest of the runs`,
  );
  const version = await mdmops(dir, env, '--version');
  console.log(`  for scale: mdmops --version starts and exits in ${s(version.ms)} s`);

  // The rows, as the product makes them from the stored users: the floor writes the same values.
  const store = await openStore(parseStoreSpec(`sqlite:${join(dir, '.mdmops', 'tenant.db')}`));
  const rows: Row[] = [];
  await store.forEachUser('default', SOURCE, (u) => rows.push([userField(u, 'uid')!, ...MAPPING.map((m) => userField(u, m.from) ?? null)]));
  await store.close();
  if (rows.length !== USERS) throw new Error(`the store holds ${rows.length} users of the source, not ${USERS}`);
  // The store as the source's sync left it: each first run starts from it.
  const template = join(dir, 'template');
  cpSync(join(dir, '.mdmops'), template, { recursive: true });

  const summary: string[][] = [];
  for (const db of dbs) {
    const floors: number[] = [];
    const leasts: Run[] = [];
    const firsts: Run[] = [];
    const seconds: Run[] = [];
    /** How each second run decided: on the fingerprint alone, or by reading everything. */
    const decisions: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      rmSync(join(dir, '.mdmops'), { recursive: true, force: true });
      cpSync(template, join(dir, '.mdmops'), { recursive: true });
      for (const table of [TABLE, FLOOR_TABLE, LEAST_TABLE]) {
        await db.exec(`DROP TABLE IF EXISTS ${table}`);
        await db.exec(ddl(table));
      }
      floors.push(await time(() => writeRows(db.driver, db.url, FLOOR_TABLE, COLUMNS, rows)));
      leasts.push(await timed(dir, [process.execPath, '--import', PEAK_RSS_PRELOAD, LEAST, db.driver, LEAST_TABLE, join(dir, '.mdmops', 'tenant.db'), SOURCE, COLUMNS[0]!, ...MAPPING.map((m) => `${m.column}=${STORED[m.from]}`)], { BENCH_URL: db.url }, join(dir, 'peak-rss')));
      await sameRows(db, LEAST_TABLE, FLOOR_TABLE);
      const first = await mdmops(dir, env, 'sync', `SqlProvisioning/${db.name}`);
      if (!first.stdout.includes(`SqlProvisioning/${db.name}: ${USERS} rows (${USERS} inserted, 0 updated, 0 deprovisioned)`)) throw new Error(`the first run did not insert every row:\n${first.stdout}${first.stderr}`);
      await sameRows(db, TABLE, FLOOR_TABLE);
      const second = await mdmops(dir, env, 'sync', `SqlProvisioning/${db.name}`);
      if (!second.stdout.includes(`SqlProvisioning/${db.name}: ${USERS} rows (0 inserted, 0 updated, 0 deprovisioned)`)) throw new Error(`the second run wrote rows:\n${second.stdout}${second.stderr}`);
      decisions.push(second.stdout.includes(UNCHANGED) ? 'nothing read: users, layout and table checksum as the first run left them' : 'every user and row read, compared');
      firsts.push(first);
      seconds.push(second);
    }
    const floor = Math.min(...floors);
    const least = Math.min(...leasts.map((r) => r.ms));
    const first = Math.min(...firsts.map((r) => r.ms));
    const second = Math.min(...seconds.map((r) => r.ms));
    const rss = Math.max(...[...firsts, ...seconds].map((r) => r.peakRssMiB));
    const [ratio, again] = [first / floor, second / first];
    console.log(`${db.title}:`);
    console.log(`  floor (${FLOOR_HOW[db.driver]}): ${s(floor)} s${all(floors)}`);
    console.log(`  for scale, the least a process of its own can do (node started, the users read from the tenant store in one SELECT, the floor's writes): ${s(least)} s, ${(least / floor).toFixed(2)}x the floor${all(leasts.map((r) => r.ms))}`);
    console.log(`  first run (every row inserted): ${s(first)} s, ${ratio.toFixed(2)}x the floor (goal ${GOAL}x: ${met(ratio <= GOAL)})${all(firsts.map((r) => r.ms))}; peak RSS ${Math.max(...firsts.map((r) => r.peakRssMiB)).toFixed(0)} MiB`);
    console.log(`  second run (nothing changed, 0 rows written; ${[...new Set(decisions)].join(' / ')}): ${s(second)} s, ${again.toFixed(2)}x the first run (goal: under 0.33x: ${met(again < 1 / 3)})${all(seconds.map((r) => r.ms))}; peak RSS ${Math.max(...seconds.map((r) => r.peakRssMiB)).toFixed(0)} MiB`);
    console.log(`  peak RSS of the runs: ${rss.toFixed(0)} MiB (goal: under 400 MB: ${met(rss * 1.048576 < 400)})`);
    summary.push([db.title.split(' ')[0]!, s(floor), `${(least / floor).toFixed(2)}x`, s(first), `${ratio.toFixed(2)}x`, s(second), `${again.toFixed(2)}x`, rss.toFixed(0), `${met(ratio <= GOAL)} / ${met(again < 1 / 3)} / ${met(rss * 1.048576 < 400)}`]);
  }
  const head = ['driver', 'floor s', 'least/floor', 'first s', 'first/floor', 'second s', 'second/first', 'peak RSS MiB', `goals (${GOAL}x / 1/3 / 400 MB)`];
  const widths = head.map((h, i) => Math.max(h.length, ...summary.map((r) => r[i]!.length)));
  console.log('Summary:');
  for (const r of [head, ...summary]) console.log(`  ${r.map((c, i) => (i ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`);
  console.log(`The bench took ${((Date.now() - benchStart) / 1000).toFixed(0)} s end to end.`);
} finally {
  for (const db of dbs) await db.close().catch(() => undefined);
  await Promise.all([postgres.stop(), mariadb.stop(), entra.stop()]);
  rmSync(dir, { recursive: true, force: true });
}
