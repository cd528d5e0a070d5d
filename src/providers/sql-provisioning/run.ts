// One SQL provisioning run against the application's database: check the table, read it, decide
// (round.ts), then write in batches, each in one transaction. Ownership of an anchor is committed to
// the tenant store before its row is written and confirmed after; a failed batch is tried again row
// by row to name the bad rows; a lost connection ends the run, and the next one converges.
import type { ProviderContext } from '../../engine/provider.js';
import { readyOf } from '../../engine/status.js';
import { directDial } from '../../net/dialed-socket.js';
import { parseGsqlExport } from '../../sql/gsql-export.js';
import { openTarget, showTable, tableName, type Cell, type RowChange, type SqlTarget, type TableName, type TableShape } from '../../sql/target.js';
import type { ProvisionedState, ResourceId, Write } from '../../store/types.js';
import { messageOf } from '../../util/message-of.js';
import { sha256 } from '../../util/canonical.js';
import type { SqlProvisioning } from '../../api/index.js';
import { throughConnector, type SpecOf } from '../record.js';
import { decide, DesiredRows, massDelete, readColumns, writtenColumns, type Layout } from './round.js';

type Spec = SpecOf<typeof SqlProvisioning>;

export type RunResultKind = 'Done' | 'Unreachable' | 'SchemaMismatch' | 'Blocked' | 'SourceNotReady';

/** What a run did (status.lastRun). */
export interface LastRun {
  result: RunResultKind;
  inserted: number;
  updated: number;
  deleted: number;
  failed: number;
  failedAnchors?: string[];
  conflicts: number;
  conflictAnchors?: string[];
  missingValues: number;
  missingAnchor: number;
  deletionsHeld?: number;
  /** The users, the layout and the table's checksum were as the last complete run left them: nothing was read or written. */
  unchanged?: boolean;
}

export interface RunResult {
  lastRun: LastRun;
  /** Rows this resource provisioned that the table holds after the run. */
  rowCount?: number;
  /** Why the run stopped or wrote nothing. */
  error?: string;
  /** With dryRun: what a run would do, for a plan. */
  work?: string;
}

export interface RunInput {
  id: ResourceId;
  spec: Spec;
  exportXml: string;
  /** The connection URL (it holds credentials: never shown). */
  url: string;
}

export interface RunOptions {
  /** Decide only: nothing is written, to the table or the store. */
  dryRun?: boolean;
  allowMassDelete?: boolean;
  /** Deprovision every row it owns, whatever the source holds: the resource is being deleted. */
  deprovisionAll?: boolean;
  progress?: (done: number, total: number, unit: string) => void;
}

/** Anchors named in status and notifications. */
const NAMED = 5;

/** The table and its layout, from the spec and the export it narrows (validated to agree). */
export function layoutOf(spec: Spec, exportXml: string): { table: TableName; layout: Layout } {
  const type = parseGsqlExport(exportXml).objectTypes.get(spec.objectType);
  const anchor = spec.anchor.attribute ?? type?.anchor;
  const table = spec.table ?? type?.table;
  if (!anchor || !table) throw new Error(`the export names no ${anchor ? 'table' : 'anchor'} for ${spec.objectType}`);
  const d = spec.deprovision;
  return {
    table: tableName(table),
    layout: {
      anchor: { column: spec.anchor.column ?? anchor, from: spec.anchor.from },
      mapped: spec.attributeMapping.map((m) => ({ column: m.column ?? m.attribute, from: m.from })),
      ...(d.mode === 'SoftDelete' ? { softDelete: { column: d.column!, value: d.value!, ...(d.activeValue === undefined ? {} : { activeValue: d.activeValue }) } } : {}),
    },
  };
}

/** Why the table cannot take the rows, or undefined. */
export function shapeProblem(table: TableName, shape: TableShape | undefined, layout: Layout, tableNames: string[]): string | undefined {
  const near = (name: string, names: string[]) => names.find((n) => n !== name && n.toLowerCase() === name.toLowerCase());
  if (!shape) {
    const other = near(table.name, tableNames);
    return `table ${showTable(table)} does not exist${other ? `; did you mean "${other}"? (names are compared with their case)` : ''}`;
  }
  const names = shape.columns.map((c) => c.name);
  for (const column of readColumns(layout)) {
    if (names.includes(column)) continue;
    const other = near(column, names);
    return `table ${showTable(table)} has no column "${column}"${other ? `; did you mean "${other}"? (names are compared with their case)` : ` (its columns: ${names.join(', ')})`}`;
  }
  if (!shape.uniqueKeys.some((k) => k.length === 1 && k[0] === layout.anchor.column)) {
    return `the anchor column ${layout.anchor.column} of ${showTable(table)} has no primary key or unique constraint: a row could not be told from another (mdmops writes no DDL: add one)`;
  }
  return undefined;
}

/** The message of a database error, without the connection URL or its password. */
export function scrub(message: string, url: string): string {
  let out = message.split(url).join('<connection URL>');
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password) out = out.split(password).join('***');
  } catch {
    // not a URL with a password (sqlite:PATH): nothing more to hide
  }
  return out;
}

class Unreachable extends Error {}

/** What shapes the rows besides the users: the table, the layout, adopt, and the table's columns and keys as the server gave them. */
const layoutDigest = (table: TableName, layout: Layout, adopt: boolean, shape: TableShape) => sha256(JSON.stringify([table, layout, adopt, shape]));

/** What a run that wrote nothing reports again: the last complete run's counts of what it left alone. */
const OUTCOME = ['conflicts', 'conflictAnchors', 'missingValues', 'missingAnchor'] as const;

export async function runProvisioning(ctx: ProviderContext, input: RunInput, options: RunOptions = {}): Promise<RunResult> {
  const { id, spec } = input;
  const lastRun: LastRun = { result: 'Done', inserted: 0, updated: 0, deleted: 0, failed: 0, conflicts: 0, missingValues: 0, missingAnchor: 0 };
  const stop = (result: RunResultKind, error: string): RunResult => ({ lastRun: { ...lastRun, result }, error: scrub(error, input.url) });

  const source = options.deprovisionAll ? undefined : await ctx.record({ tenant: id.tenant, kind: spec.sourceRef.kind, name: spec.sourceRef.name });
  if (!source && !options.deprovisionAll) return stop('SourceNotReady', `${spec.sourceRef.kind}/${spec.sourceRef.name} is not in the tenant`);
  const { table, layout } = layoutOf(spec, input.exportXml);

  let target: SqlTarget;
  try {
    // Through the connector's agent, inside the customer network; otherwise only where the outbound policy lets it.
    const dial = spec.connectorRef ? throughConnector(ctx, { ...id, spec: spec as Record<string, unknown> }, spec.connectorRef.name) : directDial(ctx.outbound);
    target = await openTarget(spec.connection.driver, input.url, { dial });
  } catch (e) {
    return stop('Unreachable', `the application database cannot be reached: ${messageOf(e)}`);
  }
  try {
    const shape = await target.shape(table);
    const problem = shapeProblem(table, shape, layout, shape ? [] : await target.tableNames(table));
    if (problem) return stop('SchemaMismatch', problem);

    // The table is the truth, and a run that does not read its rows still checks them: when the
    // source's users (their version), the layout and the checksum of the table's rows, computed by
    // its server over the columns a run reads, are as the last complete run left them, that run's
    // table is there still, as it wanted it, and nothing is read or written.
    const sourceKey = `${spec.sourceRef.kind}/${spec.sourceRef.name}`;
    const fingerprint = options.deprovisionAll ? undefined : { userVersion: await ctx.store.userVersion(id.tenant, sourceKey), layout: layoutDigest(table, layout, spec.adopt, shape!) };
    const last = await ctx.store.getProvisionedState(id);
    const checksum = () => target.checksum(table, readColumns(layout));
    // The table's checksum before it is read (taken once): a run that writes nothing keeps its
    // fingerprint only if the checksum after is the same (no one changed the table while it ran).
    let before = fingerprint && last?.userVersion === fingerprint.userVersion && last.layout === fingerprint.layout ? await checksum() : undefined;
    if (last && before === last.table) {
      return { lastRun: { ...lastRun, ...(last.outcome.lastRun as Partial<LastRun>), unchanged: true }, rowCount: last.outcome.rowCount as number };
    }

    const wanted = new DesiredRows(layout, new Map(shape!.columns.map((c) => [c.name, c])), sourceKey);
    const current = new Map<string, Cell[]>();
    // The users from the store and the rows from the database, read side by side: while one waits, the other reads.
    await Promise.all([
      source && ctx.store.forEachUserValues(id.tenant, sourceKey, wanted.values, (row) => wanted.add(row)),
      (async () => {
        if (fingerprint && !options.dryRun) before ??= await checksum();
        await target.read(table, readColumns(layout), (row) => current.set(row[0]!, row));
      })(),
    ]);
    const owned = await ctx.store.listProvisioned(id);

    // A source that cannot be trusted to have lost users deletes no row: not Ready, failed, or empty.
    const trusted = !source || (readyOf(source.status)?.status === 'True' && !source.status.lastError && wanted.rows.size > 0);
    const round = decide(layout, { desired: wanted.rows, current, owned, adopt: spec.adopt, deletionsAllowed: trusted });
    Object.assign(lastRun, {
      conflicts: round.conflicts.length,
      missingValues: wanted.missingValues,
      missingAnchor: wanted.missingAnchor,
      ...(round.held ? { deletionsHeld: round.held } : {}),
      ...(round.conflicts.length ? { conflictAnchors: round.conflicts.slice(0, NAMED) } : {}),
    });
    const failed = new Map(wanted.failed);
    const blocked = options.allowMassDelete ? undefined : massDelete(round.deletions, round.ownedRows, spec.deletionThreshold);
    if (options.dryRun) {
      const counts = [[round.inserts, 'to insert'], [round.updates, 'to update'], [round.deletions, spec.deprovision.mode === 'SoftDelete' ? 'to soft-delete' : 'to delete']].filter(([n]) => n).map(([n, what]) => `${n} ${what}`);
      return { lastRun, rowCount: round.ownedRows, work: counts.length ? `table ${showTable(table)}: rows ${counts.join(', ')}${blocked ? ' (held by the deletion guard)' : ''}` : undefined };
    }
    if (blocked) return { ...stop('Blocked', blocked), rowCount: round.ownedRows };

    // Changes of ownership, each in one transaction of the store, empty ones left out. The last
    // complete run's state goes first: a run stopped halfway leaves none.
    const own = (...writes: Write[]) => ctx.store.commit(writes.filter((w) => !('anchors' in w) || w.anchors?.length));
    const anchorsOf = (changes: RowChange[], op: RowChange['op']) => changes.filter((c) => c.op === op).map((c) => c.anchor);
    await own(...(last ? [{ op: 'deleteProvisionedState', id } as const] : []), { op: 'putProvisioned', id, anchors: round.confirm, confirmed: true }, { op: 'deleteProvisioned', id, anchors: round.release });

    const columns = writtenColumns(layout);
    const total = round.changes.length;
    const batchAt = (start: number) => round.changes.slice(start, start + spec.batchSize);
    const claim = (batch: RowChange[]) => own({ op: 'putProvisioned', id, anchors: anchorsOf(batch, 'insert'), confirmed: false });
    // The next batch's claims are committed while this one's rows are written (each batch's before
    // its own rows): the store's work is done while the database server does its own.
    let claimed = total ? claim(batchAt(0)) : undefined;
    for (let start = 0; start < total; start += spec.batchSize) {
      const batch = batchAt(start);
      await claimed;
      const writing = writeBatch(target, table, columns, batch, failed, input.url);
      claimed = start + spec.batchSize < total ? claim(batchAt(start + spec.batchSize)) : undefined;
      claimed?.catch(() => undefined); // awaited with the next batch; a run stopped before has no use for it
      const written = await writing;
      const wrote = new Set(written);
      // The claims of the rows written are confirmed once, when the last batch is written (below); a
      // run stopped before leaves them claimed, and the next one confirms those whose row is there.
      await own(
        { op: 'deleteProvisioned', id, anchors: anchorsOf(written, 'delete') },
        // A failed insert wrote nothing: its claim goes.
        { op: 'deleteProvisioned', id, anchors: anchorsOf(batch.filter((c) => !wrote.has(c)), 'insert') },
      );
      for (const c of written) {
        if (c.op === 'insert') lastRun.inserted++;
        else if (c.op === 'delete' || !wanted.rows.has(c.anchor)) lastRun.deleted++; // a soft delete is an update
        else lastRun.updated++;
      }
      options.progress?.(Math.min(start + spec.batchSize, total), total, 'rows');
    }
    lastRun.failed = failed.size;
    if (failed.size) lastRun.failedAnchors = [...failed].slice(0, NAMED).map(([a, why]) => `${a}: ${why}`);
    const rowCount = round.ownedRows + lastRun.inserted - (spec.deprovision.mode === 'Delete' ? lastRun.deleted : 0);
    // Every claim left is of a row written (the others went with their batch, or at the start). With
    // the table as this run wanted it (every row written, no deletion held): its fingerprint, for the next run.
    const confirmed = lastRun.inserted ? own({ op: 'confirmProvisioned', id }) : undefined;
    if (fingerprint && !failed.size && !round.held) {
      const [sum] = await Promise.all([checksum(), confirmed]);
      if (sum === undefined) return { lastRun, rowCount };
      const state: ProvisionedState = { ...fingerprint, table: sum, outcome: { rowCount, lastRun: Object.fromEntries(OUTCOME.map((k) => [k, lastRun[k]])) } };
      if (total || sum === before) await own({ op: 'putProvisionedState', id, state });
    } else await confirmed;
    return { lastRun, rowCount };
  } catch (e) {
    if (e instanceof Unreachable || !(await target.alive())) {
      return stop('Unreachable', `the application database stopped answering mid-run: ${messageOf(e)}; the next run takes up from there`);
    }
    throw new Error(scrub(messageOf(e), input.url)); // the engine reports it: ReconcileFailed
  } finally {
    await target.close();
  }
}

/**
 * The batch in one transaction; when it fails, each half on its own, and so on down to the changes
 * that fail alone (named in `failed`): a bad row among thousands costs a few transactions, not one a
 * row. Returns the changes written. A connection lost throws (Unreachable).
 */
async function writeBatch(target: SqlTarget, table: TableName, columns: string[], batch: RowChange[], failed: Map<string, string>, url: string): Promise<RowChange[]> {
  try {
    await target.write(table, columns, batch);
    return batch;
  } catch (e) {
    if (!(await target.alive())) throw new Unreachable(messageOf(e));
    if (batch.length === 1) {
      failed.set(batch[0]!.anchor, scrub(messageOf(e), url));
      return [];
    }
  }
  const half = Math.ceil(batch.length / 2);
  const written = await writeBatch(target, table, columns, batch.slice(0, half), failed, url);
  for (const c of await writeBatch(target, table, columns, batch.slice(half), failed, url)) written.push(c);
  return written;
}
