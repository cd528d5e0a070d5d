// One SQL provisioning run, decided: from the users of the source (as rows), the rows the table
// holds and the anchors this resource owns, what to insert, update and delete. Pure: no I/O.
//
// The table is the truth: a row is inserted when its anchor is absent, whatever the store says; a
// row is updated or deleted only when this resource owns its anchor (claimed before it was
// written, confirmed after), or takes it over (adopt). An anchor claimed but not confirmed is a
// run that stopped between the two: confirmed when its row is there, let go of when it is not.
import type { UserValue } from '../../api/index.js';
import { userFieldRead, type UserFieldRead } from '../../identity/user-fields.js';
import type { DeletionThreshold } from '../sync-round.js';
import type { Cell, ColumnShape, RowChange } from '../../sql/target.js';

/** What fills one column, from a user. */
export interface Filled {
  column: string;
  from: string;
}

export interface SoftDelete {
  column: string;
  value: string;
  activeValue?: string;
}

/** Where rows go: the anchor column, the mapped columns, and how a row is deprovisioned. */
export interface Layout {
  anchor: Filled;
  mapped: Filled[];
  softDelete?: SoftDelete;
}

/** The columns written, the anchor first; a soft-delete column with an activeValue is written too. */
export const writtenColumns = (l: Layout) => [l.anchor.column, ...l.mapped.map((m) => m.column), ...(l.softDelete?.activeValue !== undefined ? [l.softDelete.column] : [])];
/** The columns read: the written ones, and a soft-delete column in any case. */
export const readColumns = (l: Layout) => [l.anchor.column, ...l.mapped.map((m) => m.column), ...(l.softDelete ? [l.softDelete.column] : [])];

/** The rows the users should be, by anchor: each the anchor, then the mapped columns' values. */
export class DesiredRows {
  readonly rows = new Map<string, Cell[]>();
  /** Users who cannot be written, by anchor (or upn, without one): why. */
  readonly failed = new Map<string, string>();
  missingAnchor = 0;
  missingValues = 0;
  private readonly limits: (ColumnShape | undefined)[];
  private readonly reads: UserFieldRead[];

  constructor(
    private readonly layout: Layout,
    shape: Map<string, ColumnShape>,
    source: string,
  ) {
    this.limits = layout.mapped.map((m) => shape.get(m.column));
    this.reads = [layout.anchor, ...layout.mapped].map((f) => userFieldRead(f.from, source));
  }

  /** The values the store reads for a user (Store.forEachUserValues), in order. */
  get values(): UserValue[] {
    return this.reads.map((r) => r.value);
  }

  /** A user, as the store read `values`: its id, then each value. The row becomes the user's desired row. */
  add(read: Cell[]): void {
    const anchor = this.reads[0]!.field(read[1]!);
    if (!anchor) return void this.missingAnchor++;
    if (this.rows.has(anchor) || this.failed.has(anchor)) {
      this.rows.delete(anchor);
      this.failed.set(anchor, `two users have ${this.layout.anchor.from} "${anchor}"`);
      return;
    }
    // In place: [id, anchor's field, values...] becomes [anchor, values...], 100,000 rows without a second array.
    read.shift();
    read[0] = anchor;
    let missing = false;
    for (let i = 0; i < this.layout.mapped.length; i++) {
      const m = this.layout.mapped[i]!;
      const v = this.reads[i + 1]!.field(read[i + 1]!) ?? null;
      read[i + 1] = v;
      const column = this.limits[i];
      // A value has no more characters (code points) than UTF-16 units: they are counted, a spread of
      // the string, only when its length is over the column's.
      if (v === null) {
        missing = true;
        if (column && !column.nullable) return void this.failed.set(anchor, `no ${m.from} for column ${m.column}, which takes no NULL`);
      } else if (column?.maxLength !== undefined && v.length > column.maxLength && [...v].length > column.maxLength) {
        return void this.failed.set(anchor, `${m.from} is ${[...v].length} characters, column ${m.column} holds ${column.maxLength}`);
      }
    }
    if (missing) this.missingValues++;
    this.rows.set(anchor, read);
  }
}

export interface RoundInput {
  /** The rows the users should be (DesiredRows): the anchor, then the mapped columns. */
  desired: Map<string, Cell[]>;
  /** The table's rows by anchor, as read (readColumns): the anchor, the mapped columns, then the soft-delete column when there is one. */
  current: Map<string, Cell[]>;
  /** The anchors this resource owns: true once confirmed. */
  owned: Map<string, boolean>;
  adopt: boolean;
  /** False when the source cannot be trusted to have lost users (not Ready, failed, empty). */
  deletionsAllowed: boolean;
}

export interface Round {
  /** In order: inserts and updates, then deletions. */
  changes: RowChange[];
  inserts: number;
  updates: number;
  /** Rows of users who left: deleted, or soft-deleted. */
  deletions: number;
  /** Anchors to confirm now: claimed rows found written, rows taken over. */
  confirm: string[];
  /** Anchors to let go of now: owned rows no longer in the table, of users who left. */
  release: string[];
  /** Rows of users this resource did not write, left alone. */
  conflicts: string[];
  /** Deletions not made because the source cannot be trusted. */
  held: number;
  /** Owned rows in the table before the run. */
  ownedRows: number;
}

export function decide(layout: Layout, input: RoundInput): Round {
  const { desired, current, owned } = input;
  const sd = layout.softDelete;
  const sdAt = layout.mapped.length + 1; // the soft-delete column's place in a current row
  const writesActive = sd?.activeValue !== undefined;
  const round: Round = { changes: [], inserts: 0, updates: 0, deletions: 0, confirm: [], release: [], conflicts: [], held: 0, ownedRows: 0 };
  const deletions: RowChange[] = [];

  for (const [anchor, values] of desired) {
    const row = current.get(anchor);
    if (!row) {
      round.inserts++;
      round.changes.push({ op: 'insert', anchor, values: writesActive ? [...values, sd!.activeValue!] : values });
      continue;
    }
    const confirmed = owned.get(anchor);
    if (confirmed === undefined && !input.adopt) {
      round.conflicts.push(anchor);
      continue;
    }
    if (confirmed !== true) round.confirm.push(anchor);
    // Most rows are unchanged: a list of changes is made only for a row that has one.
    let set: [string, Cell][] | undefined;
    for (let i = 1; i < values.length; i++) {
      if (row[i] !== values[i]) (set ??= []).push([layout.mapped[i - 1]!.column, values[i]!]);
    }
    // A user back in the source: its row is active again.
    if (sd && (writesActive ? row[sdAt] !== sd.activeValue : row[sdAt] === sd.value)) (set ??= []).push([sd.column, writesActive ? sd.activeValue! : null]);
    if (set) {
      round.updates++;
      round.changes.push({ op: 'update', anchor, set });
    }
  }

  for (const [anchor] of owned) {
    const row = current.get(anchor);
    if (row) round.ownedRows++;
    if (desired.has(anchor)) continue;
    if (!row) {
      round.release.push(anchor);
      continue;
    }
    if (sd && row[sdAt] === sd.value) continue; // deprovisioned already
    if (!input.deletionsAllowed) {
      round.held++;
      continue;
    }
    round.deletions++;
    deletions.push(sd ? { op: 'update', anchor, set: [[sd.column, sd.value]] } : { op: 'delete', anchor });
  }
  for (const d of deletions) round.changes.push(d); // not push(...): 100,000s of arguments overflow the stack
  return round;
}

/** Why the deletions of a run need confirming (more than either threshold), or undefined. */
export function massDelete(deletions: number, ownedRows: number, threshold: DeletionThreshold): string | undefined {
  if (!deletions || (deletions <= threshold.users && deletions * 100 <= ownedRows * threshold.percent)) return undefined;
  return `this run would deprovision ${deletions} of the ${ownedRows} rows it provisioned (more than ${threshold.users}, or more than ${threshold.percent}%: deletionThreshold): nothing was written; if it is meant, run mdmops sync with --allow-mass-delete`;
}
