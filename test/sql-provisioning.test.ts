// SqlProvisioning through the CLI, into a real PostgreSQL, a real MariaDB and a SQLite file: the
// users of an EntraIdSource (the Graph emulator) written as rows, kept in step, deprovisioned, and
// the table's own rows left alone; the table checked before anything is written; bad rows isolated.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { startMariadb, type MariadbServer } from './servers/mariadb.js';
import { startPostgres, type PostgresServer } from './servers/postgres.js';
import { mysqlDb, pgDb, sqliteDb, type AppDb } from './support/app-db.js';
import { ROOT } from './support/cli.js';
import { eventually } from './support/controller.js';
import { startMdmops } from './support/run.js';
import { doc, workspace, type Workspace } from './support/workspace.js';

const USERS = 30;
const EXPORT = readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8');

const TABLE = `CREATE TABLE users (
  employee_id VARCHAR(64) PRIMARY KEY, upn VARCHAR(200), email VARCHAR(200),
  first_name VARCHAR(100), last_name VARCHAR(12), department VARCHAR(100))`;

/** A trigger that refuses users whose UPN starts with "refused", in each dialect. */
const REFUSING_TRIGGER: Record<string, string[]> = {
  PostgreSQL: [
    `CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.upn LIKE 'refused%' THEN RAISE EXCEPTION 'refused by the application'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`,
    'CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON users FOR EACH ROW EXECUTE FUNCTION refuse()',
  ],
  MySQL: [`CREATE TRIGGER refuse BEFORE INSERT ON users FOR EACH ROW BEGIN IF NEW.upn LIKE 'refused%' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the application'; END IF; END`],
  SQLite: [`CREATE TRIGGER refuse BEFORE INSERT ON users WHEN NEW.upn LIKE 'refused%' BEGIN SELECT RAISE(ABORT, 'refused by the application'); END`],
};

let postgres: PostgresServer;
let mariadb: MariadbServer;
beforeAll(async () => {
  [postgres, mariadb] = await Promise.all([startPostgres(), startMariadb()]);
});
afterAll(async () => {
  await Promise.all([postgres?.stop(), mariadb?.stop()]);
});

const source = (entra: EntraEmulator) =>
  doc(
    'EntraIdSource',
    'contoso',
    `${entra.sourceSpec()}
clientSecretRef: { name: entra, key: secret }
customAttributes: [{ name: department }]`,
  );

const provisioning = (name: string, driver: string, extra = '') =>
  doc(
    'SqlProvisioning',
    name,
    `managementAgentExport: { file: hr.xml }
connection: { driver: ${driver}, urlSecretRef: { name: ${name}, key: url } }
anchor: { column: employee_id }
attributeMapping:
  - { attribute: UserPrincipalName, column: upn, from: userUPN }
  - { attribute: Mail, column: email, from: userEmailAddress }
  - { attribute: GivenName, column: first_name, from: firstName }
  - { attribute: Surname, column: last_name, from: lastName }
  - { attribute: Department, column: department, from: department }
sourceRef: { kind: EntraIdSource, name: contoso }
${extra}`,
  );

/** Every output and stored byte a run left, to look for a secret in. */
function everything(ws: Workspace, outputs: string[]): string {
  const store = readdirSync(join(ws.dir, '.mdmops')).map((f) => readFileSync(join(ws.dir, '.mdmops', f)).toString('latin1'));
  return [...outputs, ...store].join('\n');
}

describe.each([
  { driver: 'PostgreSQL', open: () => postgres.url, db: pgDb },
  { driver: 'MySQL', open: () => mariadb.url, db: mysqlDb },
  { driver: 'SQLite', open: () => '', db: async (path: string) => sqliteDb(path) },
])('SqlProvisioning into $driver', ({ driver, open, db: connect }) => {
  const ws = workspace();
  const outputs: string[] = [];
  let entra: EntraEmulator;
  let url: string;
  let app: AppDb;
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_HR__URL: url });
  const run = (...args: string[]) => {
    const r = ws.run(args, env());
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const rows = async () => Object.fromEntries((await app.rows('SELECT * FROM users ORDER BY employee_id')).map((r) => [String(r.employee_id), r]));

  beforeAll(async () => {
    entra = await startEntra({ users: USERS, groups: 1 });
    url = driver === 'SQLite' ? `sqlite:${join(ws.dir, 'app.db')}` : open();
    app = await connect(driver === 'SQLite' ? join(ws.dir, 'app.db') : url);
    await app.exec(TABLE);
    // A row of the application's own: no user has its anchor.
    await app.exec(`INSERT INTO users (employee_id, upn) VALUES ('app-admin', 'admin@app')`);
    ws.write('config/hr.xml', EXPORT);
    ws.write('config/tenant.yaml', source(entra) + provisioning('hr', driver));
  });
  afterAll(async () => {
    await app?.close();
    await entra?.stop();
  });

  it('writes the users of the source as rows after the sync of the source', async () => {
    const applied = run('apply', '-f', 'config', '--auto-approve');
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const synced = run('sync', 'EntraIdSource/contoso');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`SqlProvisioning/hr: ${USERS} rows (${USERS} inserted, 0 updated, 0 deprovisioned)`);
    const table = await rows();
    expect(Object.keys(table)).toHaveLength(USERS + 1);
    for (const position of [0, 6, 9]) {
      const u = entra.generatedUser(position) as Record<string, string>;
      const row = table[u.id!]!;
      expect(row.upn).toBe(u.userPrincipalName);
      expect(row.email).toBe(u.mail ?? null); // position 9 has no mail: NULL, not a made-up value
      expect(row.first_name).toBe(u.givenName);
      expect(row.last_name).toBe(u.surname);
      expect(row.department).toBe(u.department ?? null);
    }
    expect(table['app-admin']!.upn).toBe('admin@app');
    const notes = run('notifications').stdout;
    expect(notes).toMatch(/SqlValuesMissing.*users lack a mapped value/);
  });

  it('writes nothing when nothing changed, and only the changed column of a changed user', async () => {
    const again = run('sync', 'SqlProvisioning/hr');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 0 updated, 0 deprovisioned)`);
    const id = entra.generatedUserId(3);
    await entra.updateUser(id, { givenName: 'Renée' });
    await app.exec(`UPDATE users SET department = 'changed by the app' WHERE employee_id = '${entra.generatedUserId(4)}'`);
    const synced = run('sync', 'EntraIdSource/contoso');
    expect(synced.code, synced.stderr).toBe(0);
    // The row the application changed is put back; the renamed user's row gets its new name.
    expect(synced.stdout).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 2 updated, 0 deprovisioned)`);
    const table = await rows();
    expect(table[id]!.first_name).toBe('Renée');
    expect(table[entra.generatedUserId(4)]!.department).toBe((entra.generatedUser(4) as Record<string, string>).department);
  });

  it('reads nothing when the users, the layout and the table are as the last run left them, and notices any change to the table', async () => {
    const UNCHANGED = 'unchanged since the last run';
    const sync = () => {
      const r = run('sync', 'SqlProvisioning/hr');
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    };
    expect(sync()).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 0 updated, 0 deprovisioned); ${UNCHANGED}`);
    // The checksum is the server's, over every row: each change below is seen and put right.
    const [noMail, renamed, gone] = [entra.generatedUserId(9), entra.generatedUserId(3), entra.generatedUserId(8)];
    await app.exec(`UPDATE users SET email = '' WHERE employee_id = '${noMail}'`); // '' is not NULL
    expect(sync()).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 1 updated, 0 deprovisioned) in `);
    expect((await rows())[noMail]!.email).toBeNull();
    await app.exec(`UPDATE users SET first_name = 'Renéf' WHERE employee_id = '${renamed}'`); // as long as before
    expect(sync()).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 1 updated, 0 deprovisioned) in `);
    expect((await rows())[renamed]!.first_name).toBe('Renée');
    await app.exec(`DELETE FROM users WHERE employee_id = '${gone}'`);
    expect(sync()).toContain(`SqlProvisioning/hr: ${USERS} rows (1 inserted, 0 updated, 0 deprovisioned) in `);
    expect((await rows())[gone]!.upn).toBe(entra.generatedUser(8).userPrincipalName);
    // A row of the application's own: read, left alone, and part of the next checksum.
    await app.exec(`INSERT INTO users (employee_id, upn) VALUES ('app-other', 'other@app')`);
    expect(sync()).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 0 updated, 0 deprovisioned) in `);
    expect(sync()).toContain(UNCHANGED);
    expect((await rows())['app-other']!.upn).toBe('other@app');
    await app.exec(`DELETE FROM users WHERE employee_id = 'app-other'`);
    expect(sync()).not.toContain(UNCHANGED);
  });

  it('deletes the row of a user who left, and leaves the rows it did not write', async () => {
    await entra.deleteUser(entra.generatedUserId(5));
    const synced = run('sync', 'EntraIdSource/contoso');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`SqlProvisioning/hr: ${USERS - 1} rows (0 inserted, 0 updated, 1 deprovisioned)`);
    const table = await rows();
    expect(table[entra.generatedUserId(5)]).toBeUndefined();
    expect(table['app-admin']!.upn).toBe('admin@app');
  });

  it('fails only the users whose row the database refuses, named by anchor', async () => {
    for (const sql of REFUSING_TRIGGER[driver]!) await app.exec(sql);
    const [refused, long, fine] = await entra.addUsers([
      { userPrincipalName: `refused.one@${entra.domain}`, givenName: 'Refused', surname: 'One' },
      { userPrincipalName: `long.surname@${entra.domain}`, givenName: 'Long', surname: 'Longer-than-twelve' },
      { userPrincipalName: `fine@${entra.domain}`, givenName: 'Fine', surname: 'User' },
    ]);
    const synced = run('sync', 'EntraIdSource/contoso');
    expect(synced.code, synced.stderr).toBe(0);
    const table = await rows();
    expect(table[refused!]).toBeUndefined();
    expect(table[fine!]!.upn).toBe(`fine@${entra.domain}`);
    expect(synced.stderr).toContain(`${refused}: `);
    expect(synced.stderr).toContain('refused by the application');
    if (driver === 'SQLite') {
      // SQLite holds no text to its declared length: written as it is.
      expect(table[long!]!.last_name).toBe('Longer-than-twelve');
    } else {
      expect(table[long!]).toBeUndefined();
      expect(synced.stderr).toContain(`${long}: lastName is 18 characters, column last_name holds 12`);
    }
    expect(run('notifications').stdout).toContain('SqlRowsFailed');
  });

  it('reports a row of a user it did not write as a conflict, and takes it over with adopt', async () => {
    const [taken] = await entra.addUsers([{ userPrincipalName: `taken@${entra.domain}`, givenName: 'Taken', surname: 'Over' }]);
    await app.exec(`INSERT INTO users (employee_id, upn) VALUES ('${taken}', 'written-by-the-app')`);
    const synced = run('sync', 'EntraIdSource/contoso');
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stderr).toContain(`rows whose anchor matches a user were not written by this resource and are left alone (${taken})`);
    expect((await rows())[taken!]!.upn).toBe('written-by-the-app');

    ws.write('config/tenant.yaml', source(entra) + provisioning('hr', driver, 'adopt: true'));
    const applied = run('apply', '-f', 'config', '--auto-approve');
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect((await rows())[taken!]!.upn).toBe(`taken@${entra.domain}`);
    // Taken over: it goes when its user leaves.
    await entra.deleteUser(taken!);
    expect(run('sync', 'EntraIdSource/contoso').stdout).toMatch(/SqlProvisioning\/hr: \d+ rows \(0 inserted, 0 updated, 1 deprovisioned, \d+ failed\)/);
    expect((await rows())[taken!]).toBeUndefined();
  });

  it('puts a row back on its syncInterval under mdmops serve', async () => {
    ws.write('config/tenant.yaml', source(entra) + provisioning('hr', driver, 'adopt: true\nsyncInterval: 1s'));
    expect(run('apply', '-f', 'config', '--auto-approve').code).toBe(0);
    const id = entra.generatedUserId(7);
    await app.exec(`UPDATE users SET upn = 'edited-in-the-app' WHERE employee_id = '${id}'`);
    const served = await startMdmops('serve', ws.dir, ['--interval', '1s'], env());
    try {
      await eventually('the row put back', async () => ((await rows())[id]!.upn === entra.generatedUser(7).userPrincipalName) || undefined);
    } finally {
      expect(await served.stop()).toBe(0);
    }
    outputs.push(served.output());
    expect(served.output()).toMatch(/"msg":"synced SqlProvisioning\/hr: \d+ rows \(0 inserted, 1 updated/);
  });

  it('never shows the connection URL or its password', () => {
    const password = driver === 'SQLite' ? undefined : decodeURIComponent(new URL(url).password);
    const all = everything(ws, [...outputs, run('status', '-o', 'yaml').stdout, run('audit').stdout]);
    if (password) expect(all).not.toContain(password);
    expect(all).not.toContain(url);
  });
});
