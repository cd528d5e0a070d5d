// SqlProvisioning's safety, through the CLI as an administrator meets it, the application's database
// checked with its own driver: the table checked before anything is written, the plan showing the
// rows a run would write, the mass-delete guard, a source that cannot be trusted deleting nothing,
// soft deletes, deletionPolicy both ways, and the database or mdmops killed mid-run.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { startMariadb, type MariadbServer } from './servers/mariadb.js';
import { startPostgres, type PostgresServer } from './servers/postgres.js';
import { mysqlDb, pgDb, type AppDb } from './support/app-db.js';
import { BIN_PATH, mdmopsAsync, NODE, ROOT, type Run } from './support/cli.js';
import { doc, workspace, type Workspace } from './support/workspace.js';

const EXPORT = readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8');
/** Users of the long runs, written 10 to a transaction: long enough to be caught mid-run. */
const MANY = 3000;

/** The anchors of a table's rows, sorted here (MariaDB's collation sorts without case). */
const anchorsOf = async (db: AppDb, table: string) => (await db.rows(`SELECT employee_id FROM ${table}`)).map((r) => String(r.employee_id)).sort();
const countOf = async (db: AppDb, table: string) => Number((await db.rows(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);

/** Polls a real condition until it holds, often (a run is caught mid-way); a failed check ends it at once. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

let postgres: PostgresServer;
let mariadb: MariadbServer;
beforeAll(async () => {
  [postgres, mariadb] = await Promise.all([startPostgres(), startMariadb()]);
});
afterAll(async () => {
  await Promise.all([postgres?.stop(), mariadb?.stop()]);
});

// Sources delete what their directory lost without a guard of their own in the way: the guard tested is SqlProvisioning's.
const source = (entra: EntraEmulator, name = 'contoso') =>
  doc(
    'EntraIdSource',
    name,
    `${entra.sourceSpec()}
clientSecretRef: { name: entra-${name}, key: secret }
includeGuests: true
includeDisabledUsers: true
deletionThreshold: { users: 5000, percent: 100 }`,
  );

/** Users of the source as rows of `table` (the export's users, in a schema of its own). */
const provisioning = (name: string, driver: string, table: string, extra = '', sourceName = 'contoso') =>
  doc(
    'SqlProvisioning',
    name,
    `managementAgentExport: { file: hr.xml }
connection: { driver: ${driver}, urlSecretRef: { name: db, key: url } }
table: ${table}
anchor: { column: employee_id }
attributeMapping:
  - { attribute: UserPrincipalName, column: upn, from: userUPN }
  - { attribute: Mail, column: email, from: userEmailAddress }
sourceRef: { kind: EntraIdSource, name: ${sourceName} }
${extra}`,
  );

const COLUMNS = 'employee_id VARCHAR(64) PRIMARY KEY, upn VARCHAR(200), email VARCHAR(200)';

interface Notification {
  kind: string;
  name: string;
  reason: string;
  message: string;
  active: boolean;
}

/** A workspace whose commands run with the secrets of one emulator and one database. */
function session(ws: Workspace, env: () => NodeJS.ProcessEnv) {
  const run = (...args: string[]) => ws.run(args, env());
  return {
    run,
    ok(...args: string[]): Run {
      const r = run(...args);
      expect(r.code, `mdmops ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
      return r;
    },
    /** The active notifications of one resource, by reason. */
    notifications(name: string): Map<string, Notification> {
      const all = JSON.parse(run('notifications', '-o', 'json').stdout) as Notification[];
      return new Map(all.filter((n) => n.kind === 'SqlProvisioning' && n.name === name).map((n) => [n.reason, n]));
    },
    status(name: string): Record<string, any> {
      const r = run('status', `SqlProvisioning/${name}`, '-o', 'json');
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).status;
    },
  };
}

const ready = (status: Record<string, any>) => (status.conditions as { type: string; status: string; reason: string; message: string }[]).find((c) => c.type === 'Ready')!;

/** The anchors a resource owns in the tenant store, read as the store holds them: anchor → confirmed. */
async function owned(ws: Workspace, name: string): Promise<Map<string, boolean>> {
  const store = await openStore(parseStoreSpec(`sqlite:${join(ws.dir, '.mdmops/tenant.db')}`));
  try {
    return await store.listProvisioned({ tenant: 'default', kind: 'SqlProvisioning', name });
  } finally {
    await store.close();
  }
}

describe('the table is checked before anything is written', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const cli = session(ws, () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: postgres.url }));

  beforeAll(async () => {
    entra = await startEntra({ users: 4 });
    app = await pgDb(postgres.url);
    await app.exec(`CREATE SCHEMA chk_missing; CREATE TABLE chk_missing."Users" (${COLUMNS});
      CREATE SCHEMA chk_case; CREATE TABLE chk_case.users (employee_id VARCHAR(64) PRIMARY KEY, upn VARCHAR(200), "Email" VARCHAR(200));
      CREATE SCHEMA chk_nokey; CREATE TABLE chk_nokey.users (employee_id VARCHAR(64), upn VARCHAR(200), email VARCHAR(200));
      CREATE INDEX ON chk_nokey.users (employee_id);
      CREATE SCHEMA chk_ok; CREATE TABLE chk_ok.users (${COLUMNS})`);
    ws.write('config/hr.xml', EXPORT);
    ws.write(
      'config/tenant.yaml',
      source(entra) +
        provisioning('missing-table', 'PostgreSQL', 'chk_missing.users') +
        provisioning('case-column', 'PostgreSQL', 'chk_case.users') +
        provisioning('no-key', 'PostgreSQL', 'chk_nokey.users') +
        // The same source into a table that suits it: the users are there to be written.
        provisioning('fits', 'PostgreSQL', 'chk_ok.users'),
    );
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('writes nothing into a table that is missing, has a column in another case, or no key on the anchor, and says what to fix', async () => {
    cli.ok('apply', '-f', 'config', '--auto-approve');
    const synced = cli.ok('sync', 'EntraIdSource/contoso');
    expect(synced.stdout).toContain('SqlProvisioning/fits: 4 rows (4 inserted, 0 updated, 0 deprovisioned)');
    expect(await countOf(app, 'chk_ok.users')).toBe(4);

    const expected = {
      'missing-table': 'table chk_missing.users does not exist; did you mean "Users"? (names are compared with their case)',
      'case-column': 'table chk_case.users has no column "email"; did you mean "Email"? (names are compared with their case)',
      'no-key': 'the anchor column employee_id of chk_nokey.users has no primary key or unique constraint',
    };
    for (const [name, why] of Object.entries(expected)) {
      // Said by the run that follows the source, kept as the resource's readiness and a notification.
      expect(synced.stderr).toContain(`SqlProvisioning/${name}, which follows it: ${why}`);
      const status = cli.status(name);
      expect(ready(status)).toMatchObject({ status: 'False', reason: 'SqlSchemaMismatch' });
      expect(ready(status).message).toContain(why);
      expect(status.lastRun).toMatchObject({ result: 'SchemaMismatch', inserted: 0, updated: 0, deleted: 0 });
      expect(cli.notifications(name).get('SqlSchemaMismatch')?.message).toContain(why);
    }
    expect(await countOf(app, 'chk_missing."Users"')).toBe(0);
    expect(await countOf(app, 'chk_case.users')).toBe(0);
    expect(await countOf(app, 'chk_nokey.users')).toBe(0);
    expect(cli.notifications('fits').has('SqlSchemaMismatch')).toBe(false);
  });
});

describe('plan shows the rows a run would write', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const cli = session(ws, () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: postgres.url }));
  const config = (enabled: boolean) =>
    ws.write('config/tenant.yaml', source(entra) + provisioning('planned', 'PostgreSQL', 'planned.users', `deletionThreshold: { users: 10, percent: 100 }\nenabled: ${enabled}`));
  const table = async () => Object.fromEntries((await app.rows('SELECT * FROM planned.users')).map((r) => [String(r.employee_id), r]));

  beforeAll(async () => {
    entra = await startEntra({ users: 8 });
    app = await pgDb(postgres.url);
    await app.exec(`CREATE SCHEMA planned; CREATE TABLE planned.users (${COLUMNS})`);
    ws.write('config/hr.xml', EXPORT);
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('shows the rows to insert and writes none; apply writes them', async () => {
    ws.write('config/tenant.yaml', source(entra));
    cli.ok('apply', '-f', 'config', '--auto-approve');
    expect(cli.ok('sync', 'EntraIdSource/contoso').stdout).toContain('8 users (8 added');
    config(true);
    const plan = cli.ok('plan', '-f', 'config');
    expect(plan.stdout).toContain('+ SqlProvisioning/planned (create)');
    expect(plan.stdout).toContain('impact: table planned.users: rows 8 to insert\n');
    expect(await countOf(app, 'planned.users')).toBe(0);
    expect(cli.run('status', 'SqlProvisioning/planned').code).toBe(1); // not even recorded

    cli.ok('apply', '-f', 'config', '--auto-approve');
    expect(Object.keys(await table()).sort()).toEqual(Array.from({ length: 8 }, (_, p) => entra.generatedUserId(p)).sort());
    expect(cli.ok('plan', '-f', 'config').stdout).toContain('No changes');
  });

  it('shows the rows to insert, update and delete while provisioning is paused, and apply writes them', async () => {
    config(false);
    cli.ok('apply', '-f', 'config', '--auto-approve');
    const renamed = entra.generatedUserId(1);
    const gone = entra.generatedUserId(2);
    await entra.updateUser(renamed, { userPrincipalName: `renamed@${entra.domain}` });
    await entra.deleteUser(gone);
    const [added] = await entra.addUsers([{ userPrincipalName: `added@${entra.domain}`, displayName: 'Added' }]);
    // The source takes the changes in; the paused provisioning writes nothing.
    const synced = cli.ok('sync', 'EntraIdSource/contoso');
    expect(synced.stdout).toContain('8 users (1 added, 1 changed, 1 removed)');
    expect(synced.stdout).not.toContain('SqlProvisioning');
    const before = await table();

    config(true);
    const plan = cli.ok('plan', '-f', 'config');
    expect(plan.stdout).toContain('~ SqlProvisioning/planned (update)');
    expect(plan.stdout).toContain('impact: table planned.users: rows 1 to insert, 1 to update, 1 to delete\n');
    expect(await table()).toEqual(before);
    expect(before[renamed]!.upn).toBe(entra.generatedUser(1).userPrincipalName);

    cli.ok('apply', '-f', 'config', '--auto-approve');
    const after = await table();
    expect(after[renamed]!.upn).toBe(`renamed@${entra.domain}`);
    expect(after[gone]).toBeUndefined();
    expect(after[added!]!.upn).toBe(`added@${entra.domain}`);
    expect(Object.keys(after)).toHaveLength(8);
    expect(cli.status('planned').lastRun).toMatchObject({ result: 'Done', inserted: 1, updated: 1, deleted: 1 });
  });
});

describe('the mass-delete guard', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const cli = session(ws, () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: postgres.url }));

  beforeAll(async () => {
    entra = await startEntra({ users: 10 });
    app = await pgDb(postgres.url);
    await app.exec(`CREATE SCHEMA guarded; CREATE TABLE guarded.users (${COLUMNS})`);
    ws.write('config/hr.xml', EXPORT);
    ws.write('config/tenant.yaml', source(entra) + provisioning('guarded', 'PostgreSQL', 'guarded.users', 'deletionThreshold: { users: 2, percent: 100 }'));
    cli.ok('apply', '-f', 'config', '--auto-approve');
    expect(cli.ok('sync', 'EntraIdSource/contoso').stdout).toContain('SqlProvisioning/guarded: 10 rows (10 inserted');
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('stops a run that would deprovision more rows than deletionThreshold, until it is confirmed', async () => {
    const gone = [3, 4, 5].map((p) => entra.generatedUserId(p));
    for (const id of gone) await entra.deleteUser(id, { hard: true });
    const synced = cli.ok('sync', 'EntraIdSource/contoso');
    expect(synced.stdout).toContain('EntraIdSource/contoso: 7 users (0 added, 0 changed, 3 removed)');
    const why = 'this run would deprovision 3 of the 10 rows it provisioned (more than 2, or more than 100%: deletionThreshold): nothing was written';
    expect(synced.stderr).toContain(`mdmops: warning: SqlProvisioning/guarded, which follows it: ${why}`);
    expect(await countOf(app, 'guarded.users')).toBe(10);
    expect(cli.notifications('guarded').get('SqlProvisioningBlocked')?.message).toContain(why);
    expect(cli.status('guarded').lastRun).toMatchObject({ result: 'Blocked', deleted: 0 });
    expect(cli.status('guarded').conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'SqlProvisioningBlocked' });
    // The plan says what is held; a sync of its own is held too.
    expect(cli.ok('plan', '-f', 'config').stdout).toContain('impact: table guarded.users: rows 3 to delete (held by the deletion guard)');
    const again = cli.run('sync', 'SqlProvisioning/guarded');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(why);
    expect(await countOf(app, 'guarded.users')).toBe(10);

    const confirmed = cli.ok('sync', 'SqlProvisioning/guarded', '--allow-mass-delete');
    expect(confirmed.stdout).toContain('SqlProvisioning/guarded: 7 rows (0 inserted, 0 updated, 3 deprovisioned)');
    const left = await anchorsOf(app, 'guarded.users');
    expect(left).toHaveLength(7);
    for (const id of gone) expect(left).not.toContain(id);
    expect(cli.notifications('guarded').has('SqlProvisioningBlocked')).toBe(false);
    expect(cli.status('guarded').conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'Provisioned' });
  });

  it('lets a run within the threshold through', async () => {
    for (const p of [6, 7]) await entra.deleteUser(entra.generatedUserId(p));
    const synced = cli.ok('sync', 'EntraIdSource/contoso');
    expect(synced.stdout).toContain('SqlProvisioning/guarded: 5 rows (0 inserted, 0 updated, 2 deprovisioned)');
    expect(await countOf(app, 'guarded.users')).toBe(5);
  });
});

describe('a source that failed its last sync, or holds no users, deletes no row', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let empty: EntraEmulator;
  let app: AppDb;
  const env = () => ({
    MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret,
    MDMOPS_SECRET_ENTRA_EMPTY__SECRET: empty.secret,
    // Both emulators' CAs.
    NODE_EXTRA_CA_CERTS: join(ws.dir, 'cas.pem'),
    MDMOPS_SECRET_DB__URL: postgres.url,
  });
  const cli = session(ws, env);
  // Deletions are held by the guard at every sync of the source: they are made only when asked for.
  const config = (sourceName: string) =>
    ws.write(
      'config/tenant.yaml',
      source(entra) + source(empty, 'empty') + provisioning('untrusted', 'PostgreSQL', 'untrusted.users', 'deletionThreshold: { users: 0, percent: 100 }', sourceName),
    );

  beforeAll(async () => {
    [entra, empty] = await Promise.all([startEntra({ users: 6 }), startEntra({ users: 0 })]);
    ws.write('cas.pem', entra.caPem + empty.caPem);
    app = await pgDb(postgres.url);
    await app.exec(`CREATE SCHEMA untrusted; CREATE TABLE untrusted.users (${COLUMNS})`);
    ws.write('config/hr.xml', EXPORT);
    config('contoso');
    cli.ok('apply', '-f', 'config', '--auto-approve');
    expect(cli.ok('sync', 'EntraIdSource/contoso').stdout).toContain('SqlProvisioning/untrusted: 6 rows (6 inserted');
  });
  afterAll(async () => {
    await app?.close();
    await Promise.all([entra?.stop(), empty?.stop()]);
  });

  it('keeps the row of a user who left while the source fails, even with --allow-mass-delete', async () => {
    const gone = entra.generatedUserId(0);
    await entra.deleteUser(gone);
    const synced = cli.ok('sync', 'EntraIdSource/contoso');
    expect(synced.stdout).toContain('5 users (0 added, 0 changed, 1 removed)');
    expect(synced.stderr).toContain('SqlProvisioning/untrusted, which follows it: this run would deprovision 1 of the 6 rows');

    // The source's next sync fails: its credential is refused.
    const failed = ws.run(['sync', 'EntraIdSource/contoso'], { ...env(), MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: 'not-the-secret-8Q~abcdefghijklmnop' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('AADSTS7000215');

    const held = cli.ok('sync', 'SqlProvisioning/untrusted', '--allow-mass-delete');
    expect(held.stdout).toContain('SqlProvisioning/untrusted: 6 rows (0 inserted, 0 updated, 0 deprovisioned)');
    expect(held.stderr).toContain('1 rows of users gone from the source are kept: the source is not Ready, failed its last sync or holds no users');
    expect(await anchorsOf(app, 'untrusted.users')).toContain(gone);
    expect(cli.status('untrusted').lastRun).toMatchObject({ result: 'Done', deleted: 0, deletionsHeld: 1 });
    expect(cli.notifications('untrusted').has('SqlDeletionsHeld')).toBe(true);

    // Once the source syncs again, the same confirmed run deletes it.
    cli.ok('sync', 'EntraIdSource/contoso');
    const done = cli.ok('sync', 'SqlProvisioning/untrusted', '--allow-mass-delete');
    expect(done.stdout).toContain('SqlProvisioning/untrusted: 5 rows (0 inserted, 0 updated, 1 deprovisioned)');
    expect(await anchorsOf(app, 'untrusted.users')).not.toContain(gone);
    expect(cli.notifications('untrusted').has('SqlDeletionsHeld')).toBe(false);
  });

  it('keeps every row when it is pointed at a source that holds no users', async () => {
    const before = await anchorsOf(app, 'untrusted.users');
    expect(before).toHaveLength(5);
    expect(cli.ok('sync', 'EntraIdSource/empty').stdout).toContain('EntraIdSource/empty: 0 users');
    config('empty');
    cli.ok('apply', '-f', 'config', '--auto-approve');
    expect(cli.status('untrusted').lastRun).toMatchObject({ deleted: 0, deletionsHeld: 5 });
    const held = cli.ok('sync', 'SqlProvisioning/untrusted', '--allow-mass-delete');
    expect(held.stdout).toContain('(0 inserted, 0 updated, 0 deprovisioned)');
    expect(await anchorsOf(app, 'untrusted.users')).toEqual(before);
    expect(cli.notifications('untrusted').get('SqlDeletionsHeld')?.message).toMatch(/^5 rows of users gone from the source are kept/);
  });
});

describe('deprovision: SoftDelete (MariaDB)', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const cli = session(ws, () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: mariadb.url }));
  const active = async (table: string, id: string) => (await app.rows(`SELECT active FROM ${table} WHERE employee_id = '${id}'`)).map((r) => r.active);

  beforeAll(async () => {
    entra = await startEntra({ users: 6 });
    app = await mysqlDb(mariadb.url);
    for (const db of ['soft_active', 'soft_null']) await app.exec(`CREATE DATABASE ${db}; CREATE TABLE ${db}.users (${COLUMNS}, active VARCHAR(1))`);
    ws.write('config/hr.xml', EXPORT);
    const soft = (name: string, table: string, deprovision: string) => provisioning(name, 'MySQL', table, `deprovision: ${deprovision}\ndeletionThreshold: { users: 10, percent: 100 }`);
    ws.write(
      'config/tenant.yaml',
      source(entra) +
        soft('soft-active', 'soft_active.users', "{ mode: SoftDelete, column: active, value: '0', activeValue: '1' }") +
        soft('soft-null', 'soft_null.users', "{ mode: SoftDelete, column: active, value: '0' }"),
    );
    cli.ok('apply', '-f', 'config', '--auto-approve');
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('marks the row of a user who leaves, keeps it, and marks it active again when the user returns', async () => {
    const leaver = entra.generatedUserId(2);
    const first = cli.ok('sync', 'EntraIdSource/contoso');
    expect(first.stdout).toContain('SqlProvisioning/soft-active: 6 rows (6 inserted, 0 updated, 0 deprovisioned)');
    expect(first.stdout).toContain('SqlProvisioning/soft-null: 6 rows (6 inserted, 0 updated, 0 deprovisioned)');
    expect(new Set((await app.rows('SELECT active FROM soft_active.users')).map((r) => r.active))).toEqual(new Set(['1']));
    expect(new Set((await app.rows('SELECT active FROM soft_null.users')).map((r) => r.active))).toEqual(new Set([null]));

    await entra.deleteUser(leaver);
    const left = cli.ok('sync', 'EntraIdSource/contoso');
    expect(left.stdout).toContain('SqlProvisioning/soft-active: 6 rows (0 inserted, 0 updated, 1 deprovisioned)');
    expect(left.stdout).toContain('SqlProvisioning/soft-null: 6 rows (0 inserted, 0 updated, 1 deprovisioned)');
    expect(await active('soft_active.users', leaver)).toEqual(['0']);
    expect(await active('soft_null.users', leaver)).toEqual(['0']);
    expect(await countOf(app, 'soft_active.users')).toBe(6);
    expect(await countOf(app, 'soft_null.users')).toBe(6);
    // Deprovisioned already: not written again.
    expect(cli.ok('sync', 'SqlProvisioning/soft-active').stdout).toContain('(0 inserted, 0 updated, 0 deprovisioned)');

    await entra.restoreUser(leaver);
    const back = cli.ok('sync', 'EntraIdSource/contoso');
    expect(back.stdout).toContain('SqlProvisioning/soft-active: 6 rows (0 inserted, 1 updated, 0 deprovisioned)');
    expect(back.stdout).toContain('SqlProvisioning/soft-null: 6 rows (0 inserted, 1 updated, 0 deprovisioned)');
    expect(await active('soft_active.users', leaver)).toEqual(['1']);
    expect(await active('soft_null.users', leaver)).toEqual([null]);
    expect(await countOf(app, 'soft_active.users')).toBe(6);
  });
});

describe('deletionPolicy', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const cli = session(ws, () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: postgres.url }));
  const guarded = (most: number) => provisioning('guarded', 'PostgreSQL', 'policy_guard.users', `deletionPolicy: Delete\ndeletionThreshold: { users: ${most} }`);

  beforeAll(async () => {
    entra = await startEntra({ users: 5 });
    app = await pgDb(postgres.url);
    for (const schema of ['policy_delete', 'policy_orphan', 'policy_guard']) {
      await app.exec(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.users (${COLUMNS})`);
      // The application's own row: no user has its anchor.
      await app.exec(`INSERT INTO ${schema}.users (employee_id, upn) VALUES ('app-admin', 'admin@app')`);
    }
    ws.write('config/hr.xml', EXPORT);
    ws.write(
      'config/tenant.yaml',
      source(entra) +
        // deletionThreshold as by default (500 rows, or 10%): all of its rows are 100% of them.
        provisioning('dropped', 'PostgreSQL', 'policy_delete.users', 'deletionPolicy: Delete') +
        provisioning('kept', 'PostgreSQL', 'policy_orphan.users', 'deletionPolicy: Orphan') +
        guarded(2),
    );
    cli.ok('apply', '-f', 'config', '--auto-approve');
    const synced = cli.ok('sync', 'EntraIdSource/contoso');
    for (const name of ['dropped', 'kept', 'guarded']) expect(synced.stdout).toContain(`SqlProvisioning/${name}: 5 rows (5 inserted`);
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('deletes exactly the rows it provisioned with Delete, and leaves them with Orphan, when the resource leaves the configuration', async () => {
    const users = Array.from({ length: 5 }, (_, p) => entra.generatedUserId(p));
    ws.write('config/tenant.yaml', source(entra) + guarded(2));
    const applied = cli.ok('apply', '-f', 'config', '--auto-approve');
    expect(applied.stdout).toContain('SqlProvisioning/dropped deleted');
    expect(applied.stdout).toContain('SqlProvisioning/kept orphaned');
    expect(await anchorsOf(app, 'policy_delete.users')).toEqual(['app-admin']);
    expect((await app.rows('SELECT upn FROM policy_delete.users'))[0]!.upn).toBe('admin@app');
    expect(await anchorsOf(app, 'policy_orphan.users')).toEqual(['app-admin', ...users].sort());
    expect(cli.run('status', 'SqlProvisioning/dropped').code).toBe(1);
    expect((await owned(ws, 'dropped')).size).toBe(0);
    expect(cli.status('kept').conditions.find((c: { type: string }) => c.type === 'Synced').reason).toBe('Orphaned');
  });

  it('keeps the rows, and the resource, when they are more than deletionThreshold.users', async () => {
    ws.write('config/tenant.yaml', source(entra));
    const refused = cli.run('apply', '-f', 'config', '--auto-approve');
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toContain('SqlProvisioning/guarded: failed: its 5 rows were not deleted: more than deletionThreshold.users (2)');
    expect(await anchorsOf(app, 'policy_guard.users')).toHaveLength(6);
    expect(cli.status('guarded').lastRun).toMatchObject({ result: 'Done', inserted: 5 });

    // As the message says: applied once with a threshold that allows them, then removed.
    ws.write('config/tenant.yaml', source(entra) + guarded(5));
    cli.ok('apply', '-f', 'config', '--auto-approve');
    ws.write('config/tenant.yaml', source(entra));
    expect(cli.ok('apply', '-f', 'config', '--auto-approve').stdout).toContain('SqlProvisioning/guarded deleted');
    expect(await anchorsOf(app, 'policy_guard.users')).toEqual(['app-admin']);
  });
});

describe('the database killed mid-run (MariaDB)', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const env = () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: mariadb.url, MDMOPS_GRAPH_PAGE_SIZE: '999' });
  const cli = session(ws, env);

  beforeAll(async () => {
    entra = await startEntra({ users: MANY });
    app = await mysqlDb(mariadb.url);
    // seq: the order the rows were written in.
    await app.exec(`CREATE DATABASE crash; CREATE TABLE crash.users (${COLUMNS}, seq BIGINT NOT NULL AUTO_INCREMENT, UNIQUE KEY (seq))`);
    ws.write('config/hr.xml', EXPORT);
    ws.write('config/tenant.yaml', source(entra) + provisioning('crash', 'MySQL', 'crash.users', 'batchSize: 10'));
    cli.ok('apply', '-f', 'config', '--auto-approve');
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('ends reporting the server unreachable, then converges with no duplicate and no lost row, and keeps ownership', async () => {
    const running = mdmopsAsync(['sync', 'EntraIdSource/contoso'], { cwd: ws.dir, env: env() });
    let finished = false;
    void running.then(() => (finished = true));
    const written = await until('some rows but not all', async () => {
      if (finished) throw new Error(`the run ended before it was caught mid-run: ${(await running).stdout}`);
      const n = await countOf(app, 'crash.users');
      return n > 0 && n < MANY && n;
    });
    mariadb.kill();
    const r = await running;
    expect(r.code, r.stderr).toBe(0); // the source's sync went through
    expect(r.stdout).toContain(`EntraIdSource/contoso: ${MANY} users`);
    expect(r.stderr).toContain('mdmops: warning: SqlProvisioning/crash, which follows it: the application database stopped answering mid-run');
    expect(r.stderr).not.toContain(new URL(mariadb.url).password);
    expect(cli.notifications('crash').has('SqlServerUnreachable')).toBe(true);
    expect(cli.status('crash').lastRun).toMatchObject({ result: 'Unreachable' });

    await app.close();
    await mariadb.restart();
    app = await mysqlDb(mariadb.url);
    const kept = await countOf(app, 'crash.users');
    expect(kept).toBeGreaterThanOrEqual(written);
    expect(kept).toBeLessThan(MANY);
    // The last row written before the kill: its ownership may have been claimed and not yet confirmed.
    const [last] = await app.rows('SELECT employee_id FROM crash.users ORDER BY seq DESC LIMIT 1');
    const lastWritten = String(last!.employee_id);

    const again = cli.ok('sync', 'SqlProvisioning/crash');
    // The rows there are recognised as its own: none written twice, none refused as a duplicate.
    expect(again.stdout).toContain(`SqlProvisioning/crash: ${MANY} rows (${MANY - kept} inserted, 0 updated, 0 deprovisioned) in`);
    const all = Array.from({ length: MANY }, (_, p) => entra.generatedUserId(p)).sort();
    expect(await anchorsOf(app, 'crash.users')).toEqual(all);
    expect(Number((await app.rows('SELECT COUNT(DISTINCT employee_id) AS n FROM crash.users'))[0]!.n)).toBe(MANY);
    expect(cli.notifications('crash').has('SqlServerUnreachable')).toBe(false);
    const ownership = await owned(ws, 'crash');
    expect(ownership.size).toBe(MANY);
    expect([...ownership.values()].every((confirmed) => confirmed)).toBe(true);

    // Rows written before the kill are its own: they go when their users leave.
    const [firstRow] = await app.rows('SELECT employee_id FROM crash.users ORDER BY seq LIMIT 1');
    const firstWritten = String(firstRow!.employee_id);
    await entra.deleteUser(lastWritten);
    await entra.deleteUser(firstWritten);
    expect(cli.ok('sync', 'EntraIdSource/contoso').stdout).toContain(`SqlProvisioning/crash: ${MANY - 2} rows (0 inserted, 0 updated, 2 deprovisioned)`);
    const left = await anchorsOf(app, 'crash.users');
    expect(left).toHaveLength(MANY - 2);
    expect(left).not.toContain(lastWritten);
    expect(left).not.toContain(firstWritten);
  });
});

describe('mdmops killed mid-run (PostgreSQL)', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let app: AppDb;
  const env = () => ({ MDMOPS_SECRET_ENTRA_CONTOSO__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_DB__URL: postgres.url, MDMOPS_GRAPH_PAGE_SIZE: '999' });
  const cli = session(ws, env);

  beforeAll(async () => {
    entra = await startEntra({ users: MANY });
    app = await pgDb(postgres.url);
    await app.exec(`CREATE SCHEMA killed; CREATE TABLE killed.users (${COLUMNS}, seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE)`);
    ws.write('config/hr.xml', EXPORT);
    ws.write('config/tenant.yaml', source(entra) + provisioning('killed', 'PostgreSQL', 'killed.users', 'batchSize: 10'));
    cli.ok('apply', '-f', 'config', '--auto-approve');
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('converges on the next run: every user one row, and the rows written before the kill its own', async () => {
    const child = spawn(NODE, [BIN_PATH, 'sync', 'EntraIdSource/contoso'], { cwd: ws.dir, env: { ...process.env, NO_COLOR: '1', ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.resume();
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let finished = false;
    void exited.then(() => (finished = true));
    await until('some rows but not all', async () => {
      if (finished) throw new Error(`mdmops ended before it was caught mid-run: ${stderr}`);
      const n = await countOf(app, 'killed.users');
      return n > 0 && n < MANY;
    });
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Its connection gone, PostgreSQL has rolled back what it left open: what is there now stays.
    const others = "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()";
    await until("the killed run's connection to end", async () => Number((await app.rows(others))[0]!.n) === 0);
    const kept = await countOf(app, 'killed.users');
    expect(kept).toBeLessThan(MANY);
    const [last] = await app.rows('SELECT employee_id FROM killed.users ORDER BY seq DESC LIMIT 1');
    const lastWritten = String(last!.employee_id);

    const again = cli.ok('sync', 'SqlProvisioning/killed');
    expect(again.stdout).toContain(`SqlProvisioning/killed: ${MANY} rows (${MANY - kept} inserted, 0 updated, 0 deprovisioned) in`);
    const all = Array.from({ length: MANY }, (_, p) => entra.generatedUserId(p)).sort();
    expect(await anchorsOf(app, 'killed.users')).toEqual(all);
    const ownership = await owned(ws, 'killed');
    expect(ownership.size).toBe(MANY);
    expect([...ownership.values()].every((confirmed) => confirmed)).toBe(true);

    await entra.deleteUser(lastWritten);
    expect(cli.ok('sync', 'EntraIdSource/contoso').stdout).toContain(`SqlProvisioning/killed: ${MANY - 1} rows (0 inserted, 0 updated, 1 deprovisioned)`);
    const left = await anchorsOf(app, 'killed.users');
    expect(left).toHaveLength(MANY - 1);
    expect(left).not.toContain(lastWritten);
  });
});
