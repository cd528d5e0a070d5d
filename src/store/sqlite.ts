// SQLite backend (the embedded default), through better-sqlite3.
import Database from 'better-sqlite3';
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Driver, Exec } from './sql-store.js';

export function sqliteDriver(path: string): Driver {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // It holds sealed keys and digests of secrets: for its owner only, from the first byte (made
  // here 0600 before SQLite opens it, not chmodded after). Its -wal and -shm files take its mode.
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const db = new Database(path);
  // WAL keeps readers off the writer's back. With NORMAL sync a commit survives the process being
  // killed at any point; a power cut may lose the last commits, never half of one.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 10000');
  // SQLite's own LOWER folds ASCII only: a search for "émile" must find "Émile", as PostgreSQL's does.
  db.function('lower', { deterministic: true }, (text: unknown) => (typeof text === 'string' ? text.toLowerCase() : text));
  const statements = new Map<string, Database.Statement>();
  const exec: Exec = async (sql, params = []) => {
    let stmt = statements.get(sql);
    if (!stmt) statements.set(sql, (stmt = db.prepare(sql)));
    if (stmt.reader) return { rows: stmt.all(...params) as Record<string, unknown>[], changes: 0 };
    return { rows: [], changes: stmt.run(...params).changes };
  };
  const rawStatements = new Map<string, Database.Statement>();
  const arrays: Driver['arrays'] = async (sql, params = []) => {
    let stmt = rawStatements.get(sql);
    if (!stmt) rawStatements.set(sql, (stmt = db.prepare(sql).raw()));
    return stmt.all(...params) as unknown[][];
  };
  const transaction: Driver['transaction'] = async (fn) => {
    db.exec('BEGIN IMMEDIATE');
    try {
      const result = await fn(exec);
      db.exec('COMMIT');
      return result;
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  };
  return {
    dialect: 'sqlite',
    location: path,
    query: exec,
    arrays,
    transaction,
    // One connection: its TEMP tables are every session's. A session's statement waits out a
    // transaction that another caller has begun and is awaiting in, rather than joining it.
    session: async () => ({
      query: async (sql, params) => {
        while (db.inTransaction) await new Promise((resolve) => setImmediate(resolve));
        return exec(sql, params);
      },
      transaction,
      release: async () => undefined,
    }),
    async close() {
      db.close();
    },
  };
}
