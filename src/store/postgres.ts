// PostgreSQL backend, for several replicas sharing one tenant store.
import pg from 'pg';
import type { Driver, Exec } from './sql-store.js';

/** Our SQL is written with ? placeholders; PostgreSQL numbers them. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

export function postgresDriver(url: string): Driver {
  const pool = new pg.Pool({ connectionString: url, max: 4, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined); // an idle client dropped by the server is replaced on next use
  const on =
    (client: pg.Pool | pg.PoolClient): Exec =>
    async (sql, params = []) => {
      const r = await client.query(numbered(sql), params);
      return { rows: r.rows, changes: r.rowCount ?? 0 };
    };
  return {
    dialect: 'postgres',
    location: redactUrl(url),
    query: on(pool),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(on(client));
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
