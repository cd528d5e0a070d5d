// MySQL and MariaDB through mysql2: identifiers quoted with mysql2's escapeId, values bound to
// server-side prepared statements (execute), text read as the server writes it.
import mysql from 'mysql2/promise';
import { DialedSocket } from '../net/dialed-socket.js';
import { cellOf, cellsOf, changeStatements, READ_PAGE, type Cell, type SqlTarget, type TableName, type TargetOptions } from './target.js';


export async function openMysql(url: string, options: TargetOptions): Promise<SqlTarget> {
  const u = new URL(url.replace(/^mariadb:/i, 'mysql:'));
  const socket = new DialedSocket(options.dial).connect(u.port ? Number(u.port) : 3306, u.hostname.replace(/^\[|\]$/g, ''));
  const conn = await mysql.createConnection({
    uri: u.href,
    stream: () => socket,
    connectTimeout: 10_000,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    rowsAsArray: true,
  });
  // A connection lost while idle is reported by the next statement; unhandled, it would end the process.
  conn.on('error', () => undefined);
  const q = (identifier: string) => mysql.escapeId(identifier, true);
  const qualified = (t: TableName) => (t.schema ? `${q(t.schema)}.${q(t.name)}` : q(t.name));
  const query = async (sql: string, values: unknown[] = []) => (await conn.execute(sql, values as never))[0] as unknown as unknown[][];

  return {
    async shape(table) {
      // BINARY: the names compared as written (information_schema compares without case).
      const schema = table.schema === undefined ? 'DATABASE()' : '?';
      const where = `TABLE_SCHEMA = ${schema} AND BINARY TABLE_NAME = ?`;
      const args = table.schema === undefined ? [table.name] : [table.schema, table.name];
      const found = await query(`SELECT 1 FROM information_schema.TABLES WHERE ${where}`, args);
      if (!found.length) return undefined;
      const columns = await query(`SELECT COLUMN_NAME, IS_NULLABLE, CHARACTER_MAXIMUM_LENGTH, DATA_TYPE FROM information_schema.COLUMNS WHERE ${where} ORDER BY ORDINAL_POSITION`, args);
      const keys = await query(`SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE ${where} AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, args);
      const uniqueKeys = new Map<string, string[]>();
      for (const [index, column] of keys) uniqueKeys.set(String(index), [...(uniqueKeys.get(String(index)) ?? []), String(column)]);
      return {
        // Only the character types hold text to a length (a BLOB's is in bytes).
        columns: columns.map(([name, nullable, max, type]) => ({
          name: String(name),
          nullable: nullable === 'YES',
          ...(max !== null && /char/i.test(String(type)) ? { maxLength: Number(max) } : {}),
        })),
        uniqueKeys: [...uniqueKeys.values()],
      };
    },
    async tableNames(table) {
      const rows = await query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ${table.schema === undefined ? 'DATABASE()' : '?'}`, table.schema === undefined ? [] : [table.schema]);
      return rows.map(([n]) => String(n));
    },
    async read(table, columns, each) {
      const list = columns.map(q).join(', ');
      const anchor = q(columns[0]!);
      for (let after: Cell | undefined; ; ) {
        const rows = await query(
          `SELECT ${list} FROM ${qualified(table)} ${after === undefined ? '' : `WHERE ${anchor} > ?`} ORDER BY ${anchor} LIMIT ${READ_PAGE}`,
          after === undefined ? [] : [after],
        );
        for (const r of rows) each(cellsOf(r));
        if (rows.length < READ_PAGE) return;
        after = cellOf(rows[rows.length - 1]![0]);
      }
    },
    async checksum(table, columns) {
      // Each row's cells joined by NUL, then which of them are NULL (NULL is not ''); two CRC32s
      // (of the text and of its reverse: an edit one misses, the other sees) summed as DECIMAL, which
      // does not depend on the rows' order. QUOTE or MD5 would take several times as long.
      const row = `CONCAT_WS(CHAR(0), ${columns.map(q).join(', ')}, CONCAT(${columns.map((c) => `ISNULL(${q(c)})`).join(', ')}))`;
      const [[sum]] = (await query(`SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CRC32(r)), 0), ':', COALESCE(SUM(CRC32(REVERSE(r))), 0)) FROM (SELECT ${row} AS r FROM ${qualified(table)}) AS t`)) as [[string]];
      return String(sum);
    },
    async write(table, columns, changes) {
      await conn.beginTransaction();
      try {
        for (const [sql, values] of changeStatements(qualified(table), columns, changes, { quote: q, param: () => '?' })) await query(sql, values);
        await conn.commit();
      } catch (e) {
        await conn.rollback().catch(() => undefined); // a lost connection rolls back by itself
        throw e;
      }
    },
    async alive() {
      return conn.query('SELECT 1').then(
        () => true,
        () => false,
      );
    },
    async close() {
      await conn.end().catch(() => undefined); // closing a broken connection has nothing to say
    },
  };
}
