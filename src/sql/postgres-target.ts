// PostgreSQL through pg: identifiers quoted with pg's escapeIdentifier, values as $n parameters,
// every value read as the text PostgreSQL writes it.
import pg from 'pg';
import { DialedSocket } from '../net/dialed-socket.js';
import { cellsOf, changeStatements, READ_PAGE, type SqlTarget, type TableName, type TargetOptions } from './target.js';

const AS_TEXT = { getTypeParser: () => (v: string) => v };

export async function openPostgres(url: string, options: TargetOptions): Promise<SqlTarget> {
  const client = new pg.Client({ connectionString: url, stream: () => new DialedSocket(options.dial), connectionTimeoutMillis: 10_000, types: AS_TEXT });
  // A connection lost while idle is reported by the next query; unhandled, it would end the process.
  client.on('error', () => undefined);
  await client.connect();
  const q = pg.escapeIdentifier;
  const qualified = (t: TableName) => (t.schema ? `${q(t.schema)}.${q(t.name)}` : q(t.name));
  const query = async (text: string, values: unknown[] = []) => (await client.query({ text, values, rowMode: 'array' })).rows as unknown[][];
  // The statements of the writes, prepared once on this connection and named: a run sends the same
  // INSERT of a thousand rows a hundred times, and PostgreSQL parses and plans it once.
  const prepared = new Map<string, string>();
  const named = (text: string) => {
    let name = prepared.get(text);
    if (name === undefined) prepared.set(text, (name = `mdmops_${prepared.size}`));
    return name;
  };

  return {
    async shape(table) {
      const [[oid]] = (await query('SELECT to_regclass($1)::oid', [qualified(table)])) as [[string | null]];
      if (!oid) return undefined;
      const columns = await query(
        `SELECT attname, attnotnull, CASE WHEN atttypid IN ('varchar'::regtype, 'bpchar'::regtype) AND atttypmod > 4 THEN atttypmod - 4 END
           FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
        [oid],
      );
      const keys = await query(
        `SELECT (SELECT json_agg(a.attname ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)
           FROM pg_index i WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL`,
        [oid],
      );
      return {
        columns: columns.map(([name, notNull, max]) => ({ name: String(name), nullable: notNull !== 't', ...(max ? { maxLength: Number(max) } : {}) })),
        uniqueKeys: keys.map(([k]) => JSON.parse(String(k)) as string[]),
      };
    },
    async tableNames(table) {
      const rows = await query(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p', 'v', 'f') AND n.nspname = coalesce($1, current_schema())`,
        [table.schema ?? null],
      );
      return rows.map(([n]) => String(n));
    },
    async read(table, columns, each) {
      // One query read through a cursor, a page at a time; not a query a page (WHERE anchor > last
      // LIMIT n), as each of those may scan and sort the whole table when the planner has no
      // statistics for it yet (a table the first run has just filled), which makes the read quadratic.
      await client.query('BEGIN READ ONLY');
      try {
        await client.query(`DECLARE mdmops_rows NO SCROLL CURSOR FOR SELECT ${columns.map(q).join(', ')} FROM ${qualified(table)} ORDER BY ${q(columns[0]!)}`);
        for (;;) {
          const rows = await query(`FETCH ${READ_PAGE} FROM mdmops_rows`);
          for (const r of rows) each(cellsOf(r));
          if (rows.length < READ_PAGE) break;
        }
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined); // a lost connection rolls back by itself
        throw e;
      }
    },
    async checksum(table, columns) {
      // The text of a ROW tells NULL (nothing) from '' (""), and each cell from the next; its 64-bit
      // hash (hashtextextended: a third of md5's time), summed as numeric (no overflow), does not
      // depend on the rows' order. Hashing the record itself would be faster still, but compares
      // text by its collation: under a case-insensitive one, an edit of case would go unseen.
      const hash = `hashtextextended(ROW(${columns.map(q).join(', ')})::text, 0)`;
      const [[sum]] = (await query(`SELECT count(*) || ':' || coalesce(sum(${hash}), 0) FROM ${qualified(table)}`)) as [[string]];
      return sum;
    },
    async write(table, columns, changes) {
      await client.query('BEGIN');
      try {
        for (const [text, values] of changeStatements(qualified(table), columns, changes, { quote: q, param: (n) => `$${n}` })) await client.query({ name: named(text), text, values });
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined); // a lost connection rolls back by itself
        throw e;
      }
    },
    async alive() {
      return client.query('SELECT 1').then(
        () => true,
        () => false,
      );
    },
    async close() {
      await client.end().catch(() => undefined); // closing a broken connection has nothing to say
    },
  };
}
