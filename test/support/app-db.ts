// An application's database as the SQL provisioning tests see it: their own connection and their
// own SQL, beside what mdmops writes.
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';

export interface AppDb {
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export async function pgDb(url: string): Promise<AppDb> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined); // a test may kill the server under it
  await c.connect();
  return { exec: async (sql) => void (await c.query(sql)), rows: async (sql) => (await c.query(sql)).rows, close: () => c.end() };
}

export async function mysqlDb(url: string): Promise<AppDb> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: true });
  c.on('error', () => undefined); // a test may kill the server under it
  return { exec: async (sql) => void (await c.query(sql)), rows: async (sql) => (await c.query(sql))[0] as Record<string, unknown>[], close: async () => c.destroy() };
}

export function sqliteDb(path: string): AppDb {
  const db = new Database(path);
  return { exec: async (sql) => void db.exec(sql), rows: async (sql) => db.prepare(sql).all() as Record<string, unknown>[], close: async () => void db.close() };
}
