// PostgreSQL backend, for several replicas sharing one tenant store.
import pg from 'pg';
import { redactUrl } from './redact-url.js';
import type { Driver, Exec } from './sql-store.js';

/** Our SQL is written with ? placeholders; PostgreSQL numbers them. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
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
  const within = async <T>(client: pg.PoolClient, fn: (exec: Exec) => Promise<T>): Promise<T> => {
    try {
      await client.query('BEGIN');
      const result = await fn(on(client));
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined); // the statement's error is the one to report
      throw e;
    }
  };
  return {
    dialect: 'postgres',
    location: redactUrl(url),
    query: on(pool),
    arrays: async (sql, params = []) => (await pool.query({ text: numbered(sql), values: params, rowMode: 'array' })).rows as unknown[][],
    async transaction(fn) {
      const client = await pool.connect();
      try {
        return await within(client, fn);
      } finally {
        client.release();
      }
    },
    // A client of the pool kept for the session: TEMP tables live in its server session.
    async session() {
      const client = await pool.connect();
      return {
        query: on(client),
        transaction: (fn) => within(client, fn),
        // A session that failed is not handed to anyone else: its temp tables may still be there.
        release: async (failed?: boolean) => client.release(failed),
      };
    },
    close: () => pool.end(),
  };
}
