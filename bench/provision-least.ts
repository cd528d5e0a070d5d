// For scale in bench/provision.ts: the least a run in a process of its own can do. Node starts, the
// users of the source are read from the tenant store in one SELECT by better-sqlite3 alone (the
// custom attributes taken out of their JSON by SQLite, as mdmops reads them), and the rows are
// written as the floor writes them. No table checked or read, no ownership recorded, no checksum,
// no store opened as mdmops opens it: a lower bound, not a product.
// Usage: node provision-least.js DRIVER TABLE STORE_DB SOURCE ANCHOR_COLUMN COLUMN=VALUE…, the URL
// in BENCH_URL. Each VALUE is a column of the store's users table (upn, email, first_name,
// last_name, display_name) or a custom attribute's name.
import Database from 'better-sqlite3';
import { writeRows, type Driver, type Row } from './provision-write.js';

const [driver, table, storeDb, source, anchorColumn, ...mapped] = process.argv.slice(2) as [Driver, string, string, string, string, ...string[]];
const STORED = new Set(['upn', 'email', 'first_name', 'last_name', 'display_name']);
const pairs = mapped.map((m) => m.split('=') as [string, string]);
const values = pairs.map(([, from]) => (STORED.has(from) ? from : `json_extract(attributes, '$.${from}')`));

const store = new Database(storeDb, { readonly: true, fileMustExist: true });
// The anchor is the user's id without its source's prefix; an empty value is none, as mdmops reads it.
const rows = store
  .prepare(`SELECT substr(id, ?), ${values.map((v) => `nullif(${v}, '')`).join(', ')} FROM users WHERE tenant = 'default' AND source = ?`)
  .raw()
  .all(source.length + 2, source) as Row[];
store.close();
await writeRows(driver, process.env.BENCH_URL!, table, [anchorColumn, ...pairs.map(([column]) => column)], rows);
process.stdout.write(`${rows.length} rows\n`);
