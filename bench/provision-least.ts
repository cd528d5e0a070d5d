// For scale in bench/provision.ts: the least a run in a process of its own can do. Node starts, the
// users of the source are read from the tenant store as mdmops reads them (Store.forEachUserValues:
// the custom attribute taken out of its JSON by SQLite), and the rows are written as the floor writes
// them. No table checked or read, no ownership recorded, no checksum: a lower bound, not a product.
// Usage: node provision-least.js DRIVER TABLE STORE_DB SOURCE COLUMN… (the URL in BENCH_URL);
// the columns after the anchor each name the user field (upn, email, firstName, lastName) or custom
// attribute that fills them, as `column=field`.
import { openStore, parseStoreSpec } from '../src/store/open.js';
import type { UserValue } from '../src/api/index.js';
import { writeRows, type Driver, type Row } from './provision-write.js';

const [driver, table, storeDb, source, anchorColumn, ...mapped] = process.argv.slice(2) as [Driver, string, string, string, string, ...string[]];
const FIELDS = new Set(['upn', 'email', 'firstName', 'lastName', 'displayName']);
const pairs = mapped.map((m) => m.split('=') as [string, string]);
const values: UserValue[] = [{ field: 'id' }, ...pairs.map(([, from]) => (FIELDS.has(from) ? { field: from as 'upn' } : { attribute: from }))];

const store = await openStore(parseStoreSpec(`sqlite:${storeDb}`));
const prefix = `${source}/`;
const rows: Row[] = [];
await store.forEachUserValues('default', source, values, (r) => {
  r.shift(); // the id the store keys users by; the anchor is it without the source's prefix
  r[0] = r[0]!.slice(prefix.length);
  for (let i = 1; i < r.length; i++) r[i] ||= null; // an empty value is none, as mdmops reads it
  rows.push(r);
});
await store.close();
await writeRows(driver, process.env.BENCH_URL!, table, [anchorColumn, ...pairs.map(([column]) => column)], rows);
process.stdout.write(`${rows.length} rows\n`);
