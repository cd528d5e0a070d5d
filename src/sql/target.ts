// An application's database, as SQL provisioning sees it: the shape of one table, its rows read
// page by page, and batches of row changes written each in one transaction. One adapter per driver
// (PostgreSQL, MySQL/MariaDB, SQLite); values are always bound parameters, identifiers always
// quoted with the driver's own quoting.
import type { Dial } from '../net/dial.js';

export type SqlDriver = 'PostgreSQL' | 'MySQL' | 'SQLite';

/** A table, optionally in a schema (PostgreSQL) or database (MySQL): `hr.users` or `users`. */
export interface TableName {
  schema?: string;
  name: string;
}

export const tableName = (text: string): TableName => {
  const dot = text.indexOf('.');
  return dot < 0 ? { name: text } : { schema: text.slice(0, dot), name: text.slice(dot + 1) };
};

export const showTable = (t: TableName) => (t.schema ? `${t.schema}.${t.name}` : t.name);

export interface ColumnShape {
  name: string;
  /** Characters a text value may hold, when the database enforces a limit. */
  maxLength?: number;
  nullable: boolean;
}

export interface TableShape {
  columns: ColumnShape[];
  /** The column sets of its primary key and unique constraints. */
  uniqueKeys: string[][];
}

/** A cell as read or written: text, or NULL. */
export type Cell = string | null;

/** One change to one row; `columns` of the table as given to write, the anchor column first. */
export type RowChange =
  | { op: 'insert'; anchor: string; values: Cell[] }
  | { op: 'update'; anchor: string; set: [column: string, value: Cell][] }
  | { op: 'delete'; anchor: string };

export interface SqlTarget {
  /** The table's columns and unique keys, or undefined when there is no such table. */
  shape(table: TableName): Promise<TableShape | undefined>;
  /** The names of the tables beside it (in its schema), for a "did you mean". */
  tableNames(table: TableName): Promise<string[]>;
  /** Every row's cells for `columns` (the anchor column first), a page at a time in anchor order; each row is the caller's to keep. */
  read(table: TableName, columns: string[], each: (row: Cell[]) => void): Promise<void>;
  /**
   * A checksum of the rows' cells for `columns`, computed by the database server (SQLite: in this
   * process, by a function it calls): the count of rows and a sum of a hash of each row's cells, NULL
   * told from an empty text. It changes when a cell is edited, a row is added or deleted. Undefined
   * when the table is too large for one (SQLite's text of every row over its length limit): every
   * run then reads it.
   */
  checksum(table: TableName, columns: string[]): Promise<string | undefined>;
  /** The changes in one transaction: all of them, or none when one fails (it rejects with that one's error). */
  write(table: TableName, columns: string[], changes: RowChange[]): Promise<void>;
  /** Whether the server still answers (a failed batch: a bad row, or a lost connection?). */
  alive(): Promise<boolean>;
  close(): Promise<void>;
}

export interface TargetOptions {
  /** How to reach host:port: through a connector's agent, or directly where the outbound policy lets it. */
  dial: Dial;
}

/** Rows read per query. */
export const READ_PAGE = 5000;

/** The scheme a URL of each driver starts with. */
const SCHEMES: Record<SqlDriver, string[]> = { PostgreSQL: ['postgres:', 'postgresql:'], MySQL: ['mysql:', 'mariadb:'], SQLite: ['sqlite:'] };

/** Why the URL does not suit the driver, or undefined. Says nothing of the URL but its scheme: it holds credentials. */
export function urlMismatch(driver: SqlDriver, url: string): string | undefined {
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0].toLowerCase();
  if (scheme && SCHEMES[driver].includes(scheme)) return undefined;
  return `connection.urlSecretRef holds ${scheme ? `a ${scheme}// URL` : 'no URL'}, but connection.driver is ${driver} (expected ${SCHEMES[driver].map((s) => `${s}${s === 'sqlite:' ? 'PATH' : '//...'}`).join(' or ')})`;
}

/** Opens the driver's adapter; the drivers are loaded only when a database is used. */
export async function openTarget(driver: SqlDriver, url: string, options: TargetOptions): Promise<SqlTarget> {
  const refused = urlMismatch(driver, url);
  if (refused) throw new Error(refused);
  if (driver === 'PostgreSQL') return (await import('./postgres-target.js')).openPostgres(url, options);
  if (driver === 'MySQL') return (await import('./mysql-target.js')).openMysql(url, options);
  return (await import('./sqlite-target.js')).openSqlite(url);
}

/** A statement takes at most 65,535 parameters, in PostgreSQL and MySQL alike. */
const MAX_PARAMETERS = 60_000;

/** How a driver writes SQL: its identifier quoting, and the placeholder of the nth value (from 1) of a statement. */
export interface Dialect {
  quote(identifier: string): string;
  param(n: number): string;
}

/**
 * The statements of a batch of changes, in order: consecutive inserts as multi-row INSERTs, an
 * UPDATE of the changed columns, a DELETE; identifiers quoted, every value a parameter.
 */
export function changeStatements(table: string, columns: string[], changes: RowChange[], d: Dialect): [sql: string, values: Cell[]][] {
  const anchor = d.quote(columns[0]!);
  const list = columns.map(d.quote).join(', ');
  const rowsPerInsert = Math.min(1000, Math.floor(MAX_PARAMETERS / columns.length));
  const placeholders = (from: number, n: number) => Array.from({ length: n }, (_, i) => d.param(from + i)).join(', ');
  const out: [string, Cell[]][] = [];
  // The values of the rows of the next INSERT, one after the other (not an array a row, flattened).
  let rows = 0;
  let values: Cell[] = [];
  // The INSERT of a full statement is the same text each time: built once.
  const inserts = new Map<number, string>();
  const insert = (n: number) => {
    let sql = inserts.get(n);
    if (sql === undefined) inserts.set(n, (sql = `INSERT INTO ${table} (${list}) VALUES ${Array.from({ length: n }, (_, i) => `(${placeholders(i * columns.length + 1, columns.length)})`).join(', ')}`));
    return sql;
  };
  const flush = () => {
    if (!rows) return;
    out.push([insert(rows), values]);
    rows = 0;
    values = [];
  };
  for (const c of changes) {
    if (c.op === 'insert') {
      for (const v of c.values) values.push(v);
      if (++rows === rowsPerInsert) flush();
      continue;
    }
    flush();
    if (c.op === 'update') out.push([`UPDATE ${table} SET ${c.set.map(([column], i) => `${d.quote(column)} = ${d.param(i + 1)}`).join(', ')} WHERE ${anchor} = ${d.param(c.set.length + 1)}`, [...c.set.map(([, v]) => v), c.anchor]]);
    else out.push([`DELETE FROM ${table} WHERE ${anchor} = ${d.param(1)}`, [c.anchor]]);
  }
  flush();
  return out;
}

/** A cell as the driver gave it, as text: numbers, dates and buffers compare as the text they write. */
export function cellOf(v: unknown): Cell {
  if (typeof v === 'string' || v === null) return v;
  if (v === undefined) return null;
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return String(v);
}

/** A row as the driver gave it, its cells made text in place: a read of 100,000 rows makes no second array a row. */
export function cellsOf(row: unknown[]): Cell[] {
  for (let i = 0; i < row.length; i++) row[i] = cellOf(row[i]);
  return row as Cell[];
}
