// The floor's writes (bench/provision.ts): rows written into a table by the driver alone, from
// connecting to the commit, with multi-row INSERTs in one transaction (pg and mysql2: statements of
// CHUNK rows; better-sqlite3: one prepared INSERT run for each row, its fastest way). Shared by the
// floor, timed in the bench's process, and by provision-least.ts, a process of its own.
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import pg from 'pg';

export type Driver = 'PostgreSQL' | 'MySQL' | 'SQLite';
export type Row = (string | null)[];

/** Rows per INSERT in the pg and mysql2 writes. */
export const CHUNK = 1000;

export const FLOOR_HOW: Record<Driver, string> = {
  PostgreSQL: `pg alone: INSERTs of ${CHUNK} rows ($n parameters) in one transaction`,
  MySQL: `mysql2 alone: INSERTs of ${CHUNK} rows (query, VALUES ? escaped by mysql2: faster than execute's prepared statements) in one transaction`,
  SQLite: 'better-sqlite3 alone: a prepared INSERT run for each row, in one transaction',
};

const chunks = (rows: Row[]) => Array.from({ length: Math.ceil(rows.length / CHUNK) }, (_, i) => rows.slice(i * CHUNK, (i + 1) * CHUNK));

/** `url`: postgres://…, mysql://…, or sqlite:PATH. */
export async function writeRows(driver: Driver, url: string, table: string, columns: string[], rows: Row[]): Promise<void> {
  const insertInto = `INSERT INTO ${table} (${columns.join(', ')}) VALUES `;
  if (driver === 'PostgreSQL') {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query('BEGIN');
    for (const chunk of chunks(rows)) {
      const values = chunk.map((_, r) => `(${columns.map((_, i) => `$${r * columns.length + i + 1}`).join(', ')})`).join(', ');
      await c.query(insertInto + values, chunk.flat());
    }
    await c.query('COMMIT');
    await c.end();
  } else if (driver === 'MySQL') {
    const c = await mysql.createConnection({ uri: url });
    await c.beginTransaction();
    for (const chunk of chunks(rows)) await c.query(`${insertInto}?`, [chunk]);
    await c.commit();
    await c.end();
  } else {
    const db = new Database(url.replace(/^sqlite:/, ''), { fileMustExist: true });
    const insert = db.prepare(insertInto + `(${columns.map(() => '?').join(', ')})`);
    db.transaction(() => {
      for (const r of rows) insert.run(r);
    })();
    db.close();
  }
}
