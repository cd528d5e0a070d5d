// SQLite through better-sqlite3, on a file that must exist already (mdmops creates no database and
// writes no DDL). Identifiers in double quotes; values as ? parameters.
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { cellOf, cellsOf, READ_PAGE, type Cell, type SqlTarget, type TableName } from './target.js';

const q = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/** sqlite:PATH (or sqlite://PATH): a path relative to the working directory, or absolute. */
export function sqlitePath(url: string): string {
  return resolve(url.replace(/^sqlite:(\/\/)?/i, ''));
}

export function openSqlite(url: string): SqlTarget {
  const path = sqlitePath(url);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 5000 });
  } catch (e) {
    throw new Error(`SQLite database ${path}: ${(e as Error).message}`);
  }
  db.function('mdmops_md5', { deterministic: true }, (bytes: Buffer | null) => createHash('md5').update(bytes ?? '').digest('hex'));
  const qualified = (t: TableName) => (t.schema ? `${q(t.schema)}.${q(t.name)}` : q(t.name));
  const schemaOf = (t: TableName) => q(t.schema ?? 'main');

  return {
    async shape(table) {
      const found = db.prepare(`SELECT name FROM ${schemaOf(table)}.sqlite_master WHERE type IN ('table', 'view') AND name = ?`).get(table.name);
      if (!found) return undefined;
      const info = db.prepare(`SELECT name, "notnull", pk FROM ${schemaOf(table)}.pragma_table_info(?) ORDER BY cid`).all(table.name) as { name: string; notnull: number; pk: number }[];
      const pk = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      const indexes = db.prepare(`SELECT name FROM ${schemaOf(table)}.pragma_index_list(?) WHERE "unique" = 1 AND partial = 0`).all(table.name) as { name: string }[];
      const uniqueKeys = indexes.map((i) => (db.prepare(`SELECT name FROM ${schemaOf(table)}.pragma_index_info(?) ORDER BY seqno`).all(i.name) as { name: string | null }[]).map((c) => c.name ?? ''));
      // SQLite does not hold text to a declared length: no maxLength.
      return { columns: info.map((c) => ({ name: c.name, nullable: c.notnull === 0 && c.pk === 0 })), uniqueKeys: pk.length ? [pk, ...uniqueKeys] : uniqueKeys };
    },
    async tableNames(table) {
      return (db.prepare(`SELECT name FROM ${schemaOf(table)}.sqlite_master WHERE type IN ('table', 'view')`).all() as { name: string }[]).map((r) => r.name);
    },
    async read(table, columns, each) {
      const list = columns.map(q).join(', ');
      const anchor = q(columns[0]!);
      const first = db.prepare(`SELECT ${list} FROM ${qualified(table)} ORDER BY ${anchor} LIMIT ${READ_PAGE}`).raw();
      const next = db.prepare(`SELECT ${list} FROM ${qualified(table)} WHERE ${anchor} > ? ORDER BY ${anchor} LIMIT ${READ_PAGE}`).raw();
      for (let after: Cell | undefined; ; ) {
        const rows = (after === undefined ? first.all() : next.all(after)) as unknown[][];
        for (const r of rows) each(cellsOf(r));
        if (rows.length < READ_PAGE) return;
        after = cellOf(rows[rows.length - 1]![0]);
        await new Promise((r) => setImmediate(r)); // SQLite blocks the thread: let other work run between pages
      }
    },
    async checksum(table, columns) {
      // Every row as a JSON array (null told from "", each cell escaped), all in one JSON array hashed
      // once: one call into JS, not one a row. The rows come in the order of a scan, which stays
      // while the table does (a new plan costs one full run).
      // As a BLOB: its bytes reach the hash as they are, not made a JS string and encoded again.
      try {
        return db.prepare(`SELECT count(*) || ':' || mdmops_md5(CAST(json_group_array(json_array(${columns.map(q).join(', ')})) AS BLOB)) FROM ${qualified(table)}`).pluck().get() as string;
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_TOOBIG') return undefined; // millions of rows: more than SQLite's longest text
        throw e;
      }
    },
    async write(table, columns, changes) {
      const anchor = q(columns[0]!);
      const insert = db.prepare(`INSERT INTO ${qualified(table)} (${columns.map(q).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      const remove = db.prepare(`DELETE FROM ${qualified(table)} WHERE ${anchor} = ?`);
      db.transaction(() => {
        for (const c of changes) {
          if (c.op === 'insert') insert.run(c.values);
          else if (c.op === 'delete') remove.run(c.anchor);
          else db.prepare(`UPDATE ${qualified(table)} SET ${c.set.map(([column]) => `${q(column)} = ?`).join(', ')} WHERE ${anchor} = ?`).run(...c.set.map(([, v]) => v), c.anchor);
        }
      })();
    },
    async alive() {
      return db.open;
    },
    async close() {
      db.close();
    },
  };
}
