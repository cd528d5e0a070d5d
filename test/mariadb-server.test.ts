// The private MariaDB server the SQL tests run against: strict, with a password, and surviving a crash
// the way a real one does, checked through mysql2 directly rather than through the code under test.
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMariadb, type MariadbServer } from './servers/mariadb.js';

let mariadb: MariadbServer;
const open: mysql.Connection[] = [];

async function connect(options: string | mysql.ConnectionOptions = mariadb.url): Promise<mysql.Connection> {
  const connection = await (typeof options === 'string' ? mysql.createConnection(options) : mysql.createConnection(options));
  open.push(connection);
  return connection;
}

async function names(connection: mysql.Connection): Promise<string[]> {
  const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT name FROM people ORDER BY id');
  return rows.map((r) => r.name as string);
}

beforeAll(async () => {
  mariadb = await startMariadb();
  const db = await connect();
  await db.query('CREATE TABLE people (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(5) NOT NULL, email VARCHAR(100) NOT NULL, UNIQUE KEY email (email)) ENGINE=InnoDB');
});
afterAll(async () => {
  for (const connection of open) connection.destroy();
  await mariadb?.stop();
});

describe('private MariaDB server', () => {
  it('is reached through its url, in strict mode, on the app database', async () => {
    expect(mariadb.url).toMatch(new RegExp(`^mysql://root:[0-9a-f]+@127\\.0\\.0\\.1:${mariadb.port}/app$`));
    const db = await connect();
    const [[row]] = await db.query<mysql.RowDataPacket[]>('SELECT @@sql_mode AS mode, DATABASE() AS db, VERSION() AS version, @@character_set_database AS charset');
    expect(row!.mode.split(',')).toContain('STRICT_TRANS_TABLES');
    expect(row).toMatchObject({ db: 'app', charset: 'utf8mb4', version: expect.stringMatching(/MariaDB/) });
  });

  it('refuses an over-long value with ER_DATA_TOO_LONG and a duplicate with ER_DUP_ENTRY; rollback undoes the rest', async () => {
    const db = await connect();
    await db.beginTransaction();
    await db.query('INSERT INTO people (name, email) VALUES (?, ?)', ['ann', 'ann@example.test']);
    // A multi-row statement fails whole: not even its first, valid row stays.
    await expect(db.query('INSERT INTO people (name, email) VALUES (?, ?), (?, ?)', ['bob', 'bob@example.test', 'toolong', 'x@example.test'])).rejects.toMatchObject({ code: 'ER_DATA_TOO_LONG', errno: 1406 });
    await expect(db.query('INSERT INTO people (name, email) VALUES (?, ?)', ['anna', 'ann@example.test'])).rejects.toMatchObject({ code: 'ER_DUP_ENTRY', errno: 1062 });
    // Only the failing statement was undone; the transaction goes on until the client rolls it back.
    expect(await names(db)).toEqual(['ann']);
    await db.rollback();
    expect(await names(db)).toEqual([]);
    expect(await names(await connect())).toEqual([]);
  });

  it('keeps committed data through kill() and restart(), and loses what was not committed', async () => {
    const db = await connect();
    await db.query('INSERT INTO people (name, email) VALUES (?, ?)', ['carl', 'carl@example.test']);
    const pending = await connect();
    await pending.beginTransaction();
    await pending.query('INSERT INTO people (name, email) VALUES (?, ?)', ['dora', 'dora@example.test']);

    mariadb.kill();
    await expect(db.query('SELECT 1')).rejects.toThrow();
    await expect(connect()).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await mariadb.restart();
    expect(await names(await connect())).toEqual(['carl']);
  });

  it('requires the password of its url, over TCP and over its socket', async () => {
    const wrong = new URL(mariadb.url);
    wrong.password = 'wrong';
    await expect(connect(wrong.href)).rejects.toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR' });
    const none = new URL(mariadb.url);
    none.password = '';
    await expect(connect(none.href)).rejects.toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR' });

    await expect(connect({ socketPath: mariadb.socket, user: 'root' })).rejects.toMatchObject({ code: 'ER_ACCESS_DENIED_ERROR' });
    const password = decodeURIComponent(new URL(mariadb.url).password);
    const viaSocket = await connect({ socketPath: mariadb.socket, user: 'root', password, database: 'app' });
    expect(await names(viaSocket)).toEqual(['carl']);
  });
});
