// The store over SQL, shared by both backends: a driver supplies the connection and the dialect.
import { MIGRATIONS, SCHEMA_VERSION, shownSql, type Dialect } from './migrations.js';
import type { Invitation, AuditEntry, CertificateFilter, InventoryEntry, IssuedCertificate, Notification, ProvisionedState, RecordMetadata, RecordQuery, RecordSort, RecordSummary, ResourceId, Store, StoredRecord, SyncHistoryEntry, UserStage, Write } from './types.js';
import { USER_COLUMNS, USER_DIGEST_PARAMS, USER_DIGEST_SQL, userColumns } from './user-digest.js';
import { ATTRIBUTE_NAME, readySummary, type CertificateFacts, type DirectoryUser, type UserFields, type UserValue } from '../api/index.js';

// Built once: a sync writes it for each of 100,000 users.
const PUT_USER = `INSERT INTO users (tenant, id, ${USER_COLUMNS.join(', ')}) VALUES (?, ?, ${USER_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (tenant, id) DO UPDATE SET ${USER_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ')}`;

/** Record summaries read per query by an export (Store.forEachRecordSummary). */
const RECORD_CHUNK = 1000;

/** Stored digests listed per query (Store.listUserDigests). */
export const DIGEST_CHUNK = 5000;

export interface Exec {
  (sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[]; changes: number }>;
}

export interface Driver {
  dialect: Dialect;
  location: string;
  query: Exec;
  /** A read's rows as arrays, the SELECT's columns in order: a read of 100,000 rows makes no object per row. */
  arrays(sql: string, params?: unknown[]): Promise<unknown[][]>;
  /** Runs fn inside one transaction, committed when it returns and rolled back when it throws. */
  transaction<T>(fn: (exec: Exec) => Promise<T>): Promise<T>;
  /** A connection to keep for a while, where TEMP tables stay: SQLite's one connection, a client of PostgreSQL's pool. */
  session(): Promise<Session>;
  close(): Promise<void>;
}

export interface Session {
  /** On SQLite, the one connection is everyone's: a statement waits for a transaction begun elsewhere to end. */
  query: Exec;
  transaction<T>(fn: (exec: Exec) => Promise<T>): Promise<T>;
  /** Gives the connection back; `failed`: it is not to be used again. */
  release(failed?: boolean): Promise<void>;
}

/** Staged users written per statement. */
const STAGE_ROWS = 100;
// seq orders a user staged twice; a row without a source takes the user out again (unstage).
const STAGE_COLUMNS = ['seq', 'tenant', 'id', ...USER_COLUMNS];
const stageInsert = (table: string, rows: number) => `INSERT INTO ${table} (${STAGE_COLUMNS.join(', ')}) VALUES ${Array.from({ length: rows }, () => `(${STAGE_COLUMNS.map(() => '?').join(', ')})`).join(', ')}`;
const MOVED = ['tenant', 'id', ...USER_COLUMNS].join(', ');
const NO_USER = USER_COLUMNS.map(() => null);

/**
 * Users staged in a TEMP table of a session of their own: writing there takes no lock on the
 * tenant's tables (SQLite writes TEMP tables in a database of their own; PostgreSQL's are the
 * session's), so a sync stages users while it reads the source and the commit that ends the round
 * moves them into users in one statement. Each statement stages a hundred users, in its own
 * implicit transaction: no transaction is held open between them.
 *
 * The table has no key: rows are appended in whatever order the source gives its users (a
 * directory's ids come in no order), and sorted once when moved. A key would be written all over
 * at each statement; on SQLite that is several times slower from 100,000 random ids.
 */
class SqlUserStage implements UserStage {
  private rows: unknown[] = [];
  private seq = 0;
  /** The ids staged, by tenant: only a user staged twice (or taken out) makes the move pick the last row of each. */
  private readonly staged = new Map<string, Set<string>>();
  private restaged = false;
  /** The statement of a full batch, built once (and found by the driver's statement cache without a new string to hash). */
  private fullInsert?: string;
  private last: Promise<unknown> = Promise.resolve();
  private error?: unknown;
  private closed = false;

  constructor(
    readonly session: Session,
    readonly table: string,
    private readonly done: () => void,
  ) {}

  /** The tenant and source of the users put, by both: their versions go up with the move. */
  readonly sources = new Map<string, [tenant: string, source: string]>();

  put(user: DirectoryUser, columns: (string | null)[]): void {
    this.sources.set(`${user.tenant}\n${user.source}`, [user.tenant, user.source]);
    this.append(user.tenant, user.id, columns);
  }

  unstage(tenant: string, id: string): void {
    this.append(tenant, id, NO_USER);
    this.restaged = true; // the move must leave the tombstone out, staged before or not
  }

  private append(tenant: string, id: string, columns: readonly (string | null)[]) {
    if (this.closed) throw new Error('the user stage is closed');
    let ids = this.staged.get(tenant);
    if (!ids) this.staged.set(tenant, (ids = new Set()));
    if (ids.has(id)) this.restaged = true;
    else ids.add(id);
    this.rows.push(this.seq++, tenant, id);
    for (const c of columns) this.rows.push(c);
    if (this.rows.length === STAGE_ROWS * STAGE_COLUMNS.length) this.write();
  }

  /** The rows to move into users: each user's last, unless that one takes it out. */
  moveSelect(): string {
    if (!this.restaged) return `SELECT ${MOVED} FROM ${this.table} WHERE true ORDER BY tenant, id`;
    return `SELECT ${MOVED} FROM (SELECT *, row_number() OVER (PARTITION BY tenant, id ORDER BY seq DESC) AS later FROM ${this.table}) last_rows
      WHERE later = 1 AND source IS NOT NULL ORDER BY tenant, id`;
  }

  private write() {
    if (!this.rows.length) return;
    const rows = this.rows;
    this.rows = [];
    const count = rows.length / STAGE_COLUMNS.length;
    this.run(count === STAGE_ROWS ? (this.fullInsert ??= stageInsert(this.table, STAGE_ROWS)) : stageInsert(this.table, count), rows);
  }

  /** Each statement after the one before (a statement may wait: see Session.query). */
  private run(sql: string, params: unknown[]) {
    this.last = this.last
      .then(() => this.session.query(sql, params))
      .catch((e) => {
        this.error ??= e;
      });
  }

  /** Every user put is in the table; throws what failed. */
  async flush(): Promise<void> {
    this.write();
    await this.last;
    if (this.error) throw this.error;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rows = [];
    await this.last;
    let dropped = false;
    try {
      await this.session.query(`DROP TABLE IF EXISTS ${this.table}`);
      dropped = true;
    } catch {
      // released as failed below
    }
    await this.session.release(!dropped);
    this.done();
  }
}

export class StoreVersionError extends Error {}

/** Work in JS after a migration, by the version it brings the store to: what SQL alone cannot fill in. */
const FILLS: Record<number, (exec: Exec) => Promise<void>> = {
  // The Ready columns of the records there are, as every write keeps them.
  10: async (exec) => {
    const { rows } = await exec('SELECT tenant, kind, name, status FROM records');
    for (const r of rows) {
      const { ready, reason, message } = readySummary(JSON.parse(r.status as string));
      await exec(`UPDATE records SET ready = ?, ready_reason = ?, ready_message = ? WHERE ${idWhere}`, [ready, reason, message, ...idParams(idOf(r))]);
    }
  },
};

export async function migrate(driver: Driver): Promise<void> {
  await driver.query('CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  await driver.transaction(async (exec) => {
    // Two processes opening a new PostgreSQL store at once must not both migrate it.
    if (driver.dialect === 'postgres') await exec('SELECT pg_advisory_xact_lock(7150402)');
    const { rows } = await exec("SELECT value FROM meta WHERE key = 'schema_version'");
    const current = rows[0] ? Number(rows[0].value) : 0;
    if (current > SCHEMA_VERSION) {
      throw new StoreVersionError(
        `the store at ${driver.location} was written by a newer mdmops (store schema ${current}; this mdmops knows up to ${SCHEMA_VERSION}): upgrade mdmops to use it`,
      );
    }
    for (let v = current; v < SCHEMA_VERSION; v++) {
      for (const sql of MIGRATIONS[v]!(driver.dialect)) await exec(sql);
      await FILLS[v + 1]?.(exec);
    }
    if (current < SCHEMA_VERSION) await exec(upsertMeta, ['schema_version', String(SCHEMA_VERSION)]);
  });
}

const upsertMeta = 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value';

const idWhere = 'tenant = ? AND kind = ? AND name = ?';
const idParams = (id: ResourceId) => [id.tenant, id.kind, id.name];

const idOf = (r: Record<string, unknown>): ResourceId => ({ tenant: r.tenant as string, kind: r.kind as string, name: r.name as string });

// Records and inventory entries are read by the ten thousand: their fields are written out, as an
// object that begins with a spread (...idOf(r)) gets a hidden class of its own in V8, which costs
// memory and time in each.
const inventoryEntry = (r: Record<string, unknown>): InventoryEntry => ({ tenant: r.tenant as string, kind: r.kind as string, name: r.name as string, source: r.source as string, revision: r.revision as string, appliedAt: r.applied_at as string });

/** The columns a record is read from (the ready_* columns repeat its status for the console's queries). */
const RECORD_COLUMNS = 'tenant, kind, name, spec, spec_hash, desired_hash, generation, files, secrets, status, managed, updated_at, metadata';

function toRecord(r: Record<string, unknown>): StoredRecord {
  return {
    tenant: r.tenant as string,
    kind: r.kind as string,
    name: r.name as string,
    spec: JSON.parse(r.spec as string),
    specHash: r.spec_hash as string,
    desiredHash: r.desired_hash as string,
    generation: Number(r.generation),
    files: JSON.parse(r.files as string),
    secrets: JSON.parse(r.secrets as string),
    status: JSON.parse(r.status as string),
    managed: Number(r.managed) === 1,
    updatedAt: r.updated_at as string,
    ...metadataOf(r.metadata as string | undefined),
  };
}

function metadataOf(text: string | undefined): { metadata?: RecordMetadata } {
  const metadata = JSON.parse(text || '{}') as RecordMetadata;
  return metadata.labels || metadata.annotations ? { metadata } : {};
}

/** The columns of a user's own fields, the id first: a walk over 100,000 users reads no groups or labels. */
const USER_FIELD_COLUMNS = ['id', 'tenant', 'source', 'upn', 'email', 'display_name', 'first_name', 'last_name', 'attributes'] as const;

/** The column of each of a user's own fields (Store.forEachUserValues). */
const USER_VALUE_COLUMNS: Record<Extract<UserValue, { field: string }>['field'], string> = {
  id: 'id',
  upn: 'upn',
  email: 'email',
  displayName: 'display_name',
  firstName: 'first_name',
  lastName: 'last_name',
};

/** A custom attribute's value read from the JSON of attributes by the database, its first when it holds several; and its parameters. */
const ATTRIBUTE_VALUE: Record<Dialect, (name: string) => [string, string[]]> = {
  sqlite: (name) => [`CASE json_type(attributes, ?) WHEN 'array' THEN json_extract(attributes, ?) ELSE json_extract(attributes, ?) END`, [`$.${name}`, `$.${name}[0]`, `$.${name}`]],
  postgres: (name) => [
    `CASE json_typeof(CAST(attributes AS json) -> CAST(? AS text)) WHEN 'array' THEN CAST(attributes AS json) -> CAST(? AS text) ->> 0 ELSE CAST(attributes AS json) ->> CAST(? AS text) END`,
    [name, name, name],
  ],
};

/** A user's own fields from a row of USER_FIELD_COLUMNS. */
function userFieldsOf([id, tenant, source, upn, email, displayName, firstName, lastName, attributes]: unknown[]): UserFields {
  // Set one by one, not spread: a walk makes 100,000 of them.
  const user: UserFields = { tenant: tenant as string, id: id as string, source: source as string, upn: upn as string, attributes: JSON.parse(attributes as string) };
  if (email != null) user.email = email as string;
  if (displayName != null) user.displayName = displayName as string;
  if (firstName != null) user.firstName = firstName as string;
  if (lastName != null) user.lastName = lastName as string;
  return user;
}

function toUser(r: Record<string, unknown>): DirectoryUser {
  return {
    ...userFieldsOf(USER_FIELD_COLUMNS.map((c) => r[c])),
    groups: JSON.parse(r.groups_json as string),
    ...(r.group_ids_json == null ? {} : { groupIds: JSON.parse(r.group_ids_json as string) }),
    labels: JSON.parse(r.labels as string),
    ...(r.apple_id == null ? {} : { appleId: r.apple_id as string }),
  };
}

function toNotification(r: Record<string, unknown>): Notification {
  return {
    ...idOf(r),
    reason: r.reason as string,
    severity: r.severity as Notification['severity'],
    message: r.message as string,
    count: Number(r.count),
    firstSeen: r.first_seen as string,
    lastSeen: r.last_seen as string,
    active: Number(r.active) === 1,
  };
}

/**
 * A list of anchors as one parameter (a JSON array) read as rows by each dialect's JSON function: a
 * run claims 100,000 anchors in statements of the same text, not in one placeholder per anchor.
 */
const ANCHORS: Record<Dialect, string> = {
  sqlite: 'SELECT value FROM json_each(?)',
  postgres: 'SELECT value FROM json_array_elements_text(CAST(? AS json))',
};

function statement(w: Write, dialect: Dialect): [string, unknown[]] {
  switch (w.op) {
    case 'putRecord': {
      const r = w.record;
      // Kept, cleared, or the first edit's "before" kept (see the Write's appliedSpec).
      const applied = w.appliedSpec === undefined ? '' : w.appliedSpec === null ? ', applied_spec = NULL' : ', applied_spec = COALESCE(records.applied_spec, excluded.applied_spec)';
      return [
        `INSERT INTO records (tenant, kind, name, spec, spec_hash, desired_hash, generation, files, secrets, status, managed, updated_at, metadata, ready, ready_reason, ready_message, applied_spec)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant, kind, name) DO UPDATE SET spec = excluded.spec, spec_hash = excluded.spec_hash, desired_hash = excluded.desired_hash,
           generation = excluded.generation, files = excluded.files, secrets = excluded.secrets, status = excluded.status,
           managed = excluded.managed, updated_at = excluded.updated_at, metadata = excluded.metadata,
           ready = excluded.ready, ready_reason = excluded.ready_reason, ready_message = excluded.ready_message${applied}`,
        [r.tenant, r.kind, r.name, JSON.stringify(r.spec), r.specHash, r.desiredHash, r.generation, JSON.stringify(r.files), JSON.stringify(r.secrets), JSON.stringify(r.status), r.managed ? 1 : 0, r.updatedAt, JSON.stringify(r.metadata ?? {}), ...readyColumns(r.status), w.appliedSpec ? JSON.stringify(w.appliedSpec) : null],
      ];
    }
    case 'deleteRecord':
      return [`DELETE FROM records WHERE ${idWhere}`, idParams(w.id)];
    case 'putStatus':
      return [`UPDATE records SET status = ?, updated_at = ?, ready = ?, ready_reason = ?, ready_message = ? WHERE ${idWhere}`, [JSON.stringify(w.status), w.updatedAt, ...readyColumns(w.status), ...idParams(w.id)]];
    case 'recordSync':
      return [
        `INSERT INTO sync_history (tenant, kind, name, at, duration_ms, user_count, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant, kind, name, at) DO UPDATE SET duration_ms = excluded.duration_ms, user_count = excluded.user_count, outcome = excluded.outcome`,
        [...idParams(w.id), w.sync.at, w.sync.durationMs, w.sync.userCount, w.sync.outcome],
      ];
    case 'putInventory': {
      const e = w.entry;
      return [
        `INSERT INTO inventory (tenant, kind, name, source, revision, applied_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant, kind, name) DO UPDATE SET source = excluded.source, revision = excluded.revision, applied_at = excluded.applied_at`,
        [e.tenant, e.kind, e.name, e.source, e.revision, e.appliedAt],
      ];
    }
    case 'deleteInventory':
      return [`DELETE FROM inventory WHERE ${idWhere}`, idParams(w.id)];
    case 'putBlob':
      return [
        `INSERT INTO blobs (tenant, kind, name, purpose, sealed) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (tenant, kind, name, purpose) DO UPDATE SET sealed = excluded.sealed`,
        [...idParams(w.id), w.purpose, w.sealed],
      ];
    case 'deleteBlobs':
      return [`DELETE FROM blobs WHERE ${idWhere}`, idParams(w.id)];
    case 'notify': {
      const n = w.notification;
      return [
        `INSERT INTO notifications (tenant, kind, name, reason, severity, message, count, first_seen, last_seen, active)
         VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, 1)
         ON CONFLICT (tenant, kind, name, reason) DO UPDATE SET severity = excluded.severity, message = excluded.message,
           count = notifications.count + 1, last_seen = excluded.last_seen, active = 1`,
        [n.tenant, n.kind, n.name, n.reason, n.severity, n.message, n.lastSeen, n.lastSeen],
      ];
    }
    case 'resolveNotification':
      return [`UPDATE notifications SET active = 0 WHERE ${idWhere} AND reason = ?`, [...idParams(w.id), w.reason]];
    case 'audit': {
      const a = w.entry;
      return [
        'INSERT INTO audit (at, tenant, kind, name, action, source, revision, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [a.at, a.tenant, a.kind, a.name, a.action, a.source, a.revision, a.actor, JSON.stringify(a.detail)],
      ];
    }
    case 'setMeta':
      return [upsertMeta, [w.key, w.value]];
    case 'deleteMeta':
      return ['DELETE FROM meta WHERE key = ?', [w.key]];
    case 'putUser': {
      const u = w.user;
      return [
        PUT_USER,
        [u.tenant, u.id, ...(w.columns ?? userColumns(u))],
      ];
    }
    case 'invite': {
      const i = w.invitation;
      return [
        `INSERT INTO invitations (tenant, user_id, source, email, queued_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, user_id) DO NOTHING`,
        [i.tenant, i.userId, i.source, i.email, i.queuedAt],
      ];
    }
    case 'deleteUser':
      return ['DELETE FROM users WHERE tenant = ? AND id = ?', [w.tenant, w.id]];
    case 'putStagedUsers': {
      // In key order: the primary key's index is appended to rather than written all over.
      return [`INSERT INTO users (${MOVED}) ${(w.stage as SqlUserStage).moveSelect()} ${PUT_USER.slice(PUT_USER.indexOf('ON CONFLICT'))}`, []];
    }
    case 'putCertificate': {
      const c = w.certificate;
      return [
        `INSERT INTO certificates (tenant, configuration, user_id, serial, subject, not_before, not_after, fingerprint, content_hash, issuer_key, certificate, chain, sealed_key, issued_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant, configuration, user_id) DO UPDATE SET serial = excluded.serial, subject = excluded.subject, not_before = excluded.not_before,
           not_after = excluded.not_after, fingerprint = excluded.fingerprint, content_hash = excluded.content_hash, issuer_key = excluded.issuer_key,
           certificate = excluded.certificate, chain = excluded.chain, sealed_key = excluded.sealed_key, issued_at = excluded.issued_at`,
        [c.tenant, c.configuration, c.userId, c.serial, c.subject, c.notBefore, c.notAfter, c.fingerprintSha256, c.contentHash, c.issuerKey, c.certificate, c.chain ?? null, c.sealedKey ?? null, c.issuedAt],
      ];
    }
    case 'deleteCertificate':
      return ['DELETE FROM certificates WHERE tenant = ? AND configuration = ? AND user_id = ?', [w.tenant, w.configuration, w.userId]];
    case 'deleteCertificates':
      return ['DELETE FROM certificates WHERE tenant = ? AND configuration = ?', [w.tenant, w.configuration]];
    case 'putProvisioned':
      // WHERE true: SQLite would read ON CONFLICT after a bare FROM as a join's ON.
      return [
        `INSERT INTO provisioned (tenant, kind, name, anchor, confirmed) SELECT ?, ?, ?, value, CAST(? AS INTEGER) FROM (${ANCHORS[dialect]}) AS a WHERE true
         ON CONFLICT (tenant, kind, name, anchor) DO UPDATE SET confirmed = excluded.confirmed`,
        [...idParams(w.id), w.confirmed ? 1 : 0, JSON.stringify(w.anchors)],
      ];
    case 'confirmProvisioned':
      return w.anchors
        ? [`UPDATE provisioned SET confirmed = 1 WHERE ${idWhere} AND anchor IN (${ANCHORS[dialect]})`, [...idParams(w.id), JSON.stringify(w.anchors)]]
        : [`UPDATE provisioned SET confirmed = 1 WHERE ${idWhere} AND confirmed = 0`, idParams(w.id)];
    case 'deleteProvisioned':
      return w.anchors
        ? [`DELETE FROM provisioned WHERE ${idWhere} AND anchor IN (${ANCHORS[dialect]})`, [...idParams(w.id), JSON.stringify(w.anchors)]]
        : [`DELETE FROM provisioned WHERE ${idWhere}`, idParams(w.id)];
    case 'putProvisionedState':
      return [
        'INSERT INTO provisioned_state (tenant, kind, name, state) VALUES (?, ?, ?, ?) ON CONFLICT (tenant, kind, name) DO UPDATE SET state = excluded.state',
        [...idParams(w.id), JSON.stringify(w.state)],
      ];
    case 'deleteProvisionedState':
      return [`DELETE FROM provisioned_state WHERE ${idWhere}`, idParams(w.id)];
  }
}

/** One more on the version of each (tenant, source) the SELECT gives (see Store.userVersion). */
const bumpUserVersions = (select: string) =>
  `INSERT INTO user_versions (tenant, source, version) SELECT tenant, source, 1 FROM (${select}) AS touched WHERE true
   ON CONFLICT (tenant, source) DO UPDATE SET version = user_versions.version + 1`;

/**
 * What a deletion of a user does first: one more on the version of its source. The sources of put
 * users are counted once a transaction (usersVersioned), not once a user; the source a user leaves
 * for another by a trigger (migration 13): a staged move does not know the sources of the users it
 * replaces, and looking each up would cost a read a user.
 */
function before(w: Write): [string, unknown[]][] {
  if (w.op === 'deleteUser') return [[bumpUserVersions('SELECT tenant, source FROM users WHERE tenant = ? AND id = ?'), [w.tenant, w.id]]];
  return [];
}

/** One more on the version of each source whose users the writes put (a sync puts thousands in one commit). */
function usersVersioned(writes: Write[]): [string, unknown[]][] {
  const sources = new Map<string, [string, string]>();
  for (const w of writes) {
    if (w.op === 'putUser') sources.set(`${w.user.tenant}\n${w.user.source}`, [w.user.tenant, w.user.source]);
    if (w.op === 'putStagedUsers') for (const [key, ts] of (w.stage as SqlUserStage).sources) sources.set(key, ts);
  }
  return [...sources.values()].map((ts) => [bumpUserVersions('SELECT CAST(? AS TEXT) AS tenant, CAST(? AS TEXT) AS source'), ts]);
}

const readyColumns = (status: Record<string, unknown>) => {
  const { ready, reason, message } = readySummary(status);
  return [ready, reason, message];
};

/** Syncs each source keeps in its history. */
export const SYNC_HISTORY = 100;

/** What a write does besides its statement: a sync prunes the history past its last SYNC_HISTORY, a record deleted takes its history along. */
function followUps(w: Write): [string, unknown[]][] {
  if (w.op === 'recordSync') {
    return [
      [
        `DELETE FROM sync_history WHERE ${idWhere} AND at < (SELECT at FROM sync_history WHERE ${idWhere} ORDER BY at DESC LIMIT 1 OFFSET ${SYNC_HISTORY - 1})`,
        [...idParams(w.id), ...idParams(w.id)],
      ],
    ];
  }
  if (w.op === 'deleteRecord') return [[`DELETE FROM sync_history WHERE ${idWhere}`, idParams(w.id)]];
  if (w.op === 'deleteProvisioned' && !w.anchors) return [[`DELETE FROM provisioned_state WHERE ${idWhere}`, idParams(w.id)]];
  return [];
}

async function execWrite(exec: Exec, w: Write, dialect: Dialect): Promise<void> {
  for (const first of before(w)) await exec(...first);
  await exec(...statement(w, dialect));
  for (const more of followUps(w)) await exec(...more);
}

/** LIKE of text anywhere in a value, its wildcards taken as text (with ESCAPE '\\'). */
const containing = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** A WHERE clause of these conditions, all of them; none when there are none. */
const whereSql = (conditions: string[]) => (conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '');

function notificationWhere(filter: { active?: boolean; id?: ResourceId }): { where: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.active !== undefined) (where.push('active = ?'), params.push(filter.active ? 1 : 0));
  if (filter.id) (where.push(idWhere), params.push(...idParams(filter.id)));
  return { where: whereSql(where), params };
}

const summaryOf = (r: Record<string, unknown>): RecordSummary => ({
  tenant: r.tenant as string,
  kind: r.kind as string,
  name: r.name as string,
  ready: r.ready as string,
  reason: r.ready_reason as string,
  message: r.ready_message as string,
  updatedAt: r.updated_at as string,
});

/**
 * Rows as certificate facts. The fields certificates issued together share (tenant, configuration,
 * validity, issuer) are kept once, not once a row: a configuration may hold a certificate for each
 * of 100,000 users.
 */
function certificateFacts(): (r: Record<string, unknown>) => CertificateFacts {
  const seen = new Map<string, string>();
  const once = (v: unknown) => {
    const s = v as string;
    const kept = seen.get(s);
    if (kept !== undefined) return kept;
    seen.set(s, s);
    return s;
  };
  return (r) => ({
    tenant: once(r.tenant),
    configuration: once(r.configuration),
    userId: r.user_id as string,
    serial: r.serial as string,
    subject: r.subject as string,
    notBefore: once(r.not_before),
    notAfter: once(r.not_after),
    fingerprintSha256: r.fingerprint as string,
    contentHash: r.content_hash as string,
    issuerKey: once(r.issuer_key),
    issuedAt: r.issued_at as string,
  });
}

export class SqlStore implements Store {
  writes = 0;
  constructor(private readonly driver: Driver) {}

  get location() {
    return this.driver.location;
  }

  async getMeta(key: string) {
    const { rows } = await this.driver.query('SELECT value FROM meta WHERE key = ?', [key]);
    return rows[0]?.value as string | undefined;
  }

  async listRecords(filter: { tenant?: string; kind?: string } = {}) {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.tenant) (where.push('tenant = ?'), params.push(filter.tenant));
    if (filter.kind) (where.push('kind = ?'), params.push(filter.kind));
    const sql = `SELECT ${RECORD_COLUMNS} FROM records${whereSql(where)} ORDER BY tenant, kind, name`;
    return (await this.driver.query(sql, params)).rows.map(toRecord);
  }

  async listRecordsMentioning(tenant: string, name: string) {
    const { rows } = await this.driver.query(`SELECT ${RECORD_COLUMNS} FROM records WHERE tenant = ? AND spec LIKE ? ESCAPE '\\' ORDER BY tenant, kind, name`, [tenant, containing(JSON.stringify(name))]);
    return rows.map(toRecord);
  }

  /** Kind/name as users see it, as the records_shown index has it. */
  private get shownSql() {
    return shownSql(this.driver.dialect);
  }

  /** The sort's keys, the last of them unique (Kind/name as users see it), each with its direction. */
  private sortKeys(sort: RecordSort | undefined): { sql: string; column: keyof RecordSummary | 'shown'; desc: boolean }[] {
    const shown = { sql: this.shownSql, column: 'shown' as const, desc: false };
    const text = (column: string) => `${column}${this.driver.dialect === 'postgres' ? ' COLLATE "C"' : ''}`;
    switch (sort) {
      case 'ready':
        return [{ sql: text('ready'), column: 'ready', desc: false }, shown];
      case 'reason':
        return [{ sql: text('ready_reason'), column: 'reason', desc: false }, shown];
      case 'updated':
        return [{ sql: text('updated_at'), column: 'updatedAt', desc: true }, shown];
      default:
        return [shown];
    }
  }

  private recordWhere(q: RecordQuery): { where: string[]; params: unknown[] } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.kind) (where.push('kind = ?'), params.push(q.kind));
    if (q.tenant) (where.push('tenant = ?'), params.push(q.tenant));
    if (q.ready) (where.push('ready = ?'), params.push(q.ready));
    if (q.reason) (where.push('ready_reason = ?'), params.push(q.reason));
    if (q.text) {
      const like = containing(q.text.toLowerCase());
      where.push(`(LOWER(${this.shownSql}) LIKE ? ESCAPE '\\' OR LOWER(ready_message) LIKE ? ESCAPE '\\')`);
      params.push(like, like);
    }
    return { where, params };
  }

  private summaries(q: RecordQuery, page: { limit: number; offset?: number; after?: unknown[] }) {
    const { where, params } = this.recordWhere(q);
    const keys = this.sortKeys(q.sort);
    if (page.after) {
      // Past the last row given (keyset): on the first key that differs, it comes later in the order.
      const later = keys.map((k, i) => `(${[...keys.slice(0, i).map((e) => `${e.sql} = ?`), `${k.sql} ${k.desc ? '<' : '>'} ?`].join(' AND ')})`);
      where.push(`(${later.join(' OR ')})`);
      keys.forEach((_, i) => params.push(...page.after!.slice(0, i + 1)));
    }
    const sql = `SELECT tenant, kind, name, ready, ready_reason, ready_message, updated_at, ${this.shownSql} AS shown FROM records${whereSql(where)}
      ORDER BY ${keys.map((k) => `${k.sql}${k.desc ? ' DESC' : ''}`).join(', ')} LIMIT ? OFFSET ?`;
    return this.driver.query(sql, [...params, page.limit, page.offset ?? 0]);
  }

  async listRecordSummaries(q: RecordQuery & { offset: number; limit: number }) {
    const { where, params } = this.recordWhere(q);
    const [{ rows: counted }, { rows }] = await Promise.all([
      this.driver.query(`SELECT COUNT(*) AS n FROM records${whereSql(where)}`, params),
      this.summaries(q, { limit: q.limit, offset: q.offset }),
    ]);
    return { rows: rows.map(summaryOf), total: Number(counted[0]!.n) };
  }

  async forEachRecordSummary(q: RecordQuery, each: (chunk: RecordSummary[]) => Promise<void> | void) {
    const keys = this.sortKeys(q.sort);
    for (let after: unknown[] | undefined; ; ) {
      const { rows } = await this.summaries(q, { limit: RECORD_CHUNK, ...(after ? { after } : {}) });
      if (rows.length) await each(rows.map(summaryOf));
      if (rows.length < RECORD_CHUNK) return;
      const last = rows[rows.length - 1]!;
      after = keys.map((k) => (k.column === 'shown' ? last.shown : summaryOf(last)[k.column]));
    }
  }

  async countRecords() {
    const [{ rows: counted }, { rows: kinds }, { rows: tenants }] = await Promise.all([
      this.driver.query('SELECT kind, ready, COUNT(*) AS n FROM records GROUP BY kind, ready'),
      this.driver.query('SELECT DISTINCT kind FROM records'),
      this.driver.query('SELECT DISTINCT tenant FROM records'),
    ]);
    const sorted = (rows: Record<string, unknown>[], column: string) => rows.map((r) => r[column] as string).sort();
    return { byKindReady: counted.map((r) => ({ kind: r.kind as string, ready: r.ready as string, count: Number(r.n) })), kinds: sorted(kinds, 'kind'), tenants: sorted(tenants, 'tenant') };
  }

  async listSyncHistory(id: ResourceId) {
    const { rows } = await this.driver.query(`SELECT at, duration_ms, user_count, outcome FROM sync_history WHERE ${idWhere} ORDER BY at`, idParams(id));
    return rows.map((r): SyncHistoryEntry => ({ at: r.at as string, durationMs: Number(r.duration_ms), userCount: Number(r.user_count), outcome: r.outcome as string }));
  }

  async getAppliedSpec(id: ResourceId) {
    const { rows } = await this.driver.query(`SELECT applied_spec FROM records WHERE ${idWhere}`, idParams(id));
    const text = rows[0]?.applied_spec as string | null | undefined;
    return text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  }

  async getRecord(id: ResourceId) {
    const { rows } = await this.driver.query(`SELECT ${RECORD_COLUMNS} FROM records WHERE ${idWhere}`, idParams(id));
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async listInventory(source?: string) {
    const { rows } = source
      ? await this.driver.query('SELECT * FROM inventory WHERE source = ? ORDER BY tenant, kind, name', [source])
      : await this.driver.query('SELECT * FROM inventory ORDER BY tenant, kind, name');
    return rows.map(inventoryEntry);
  }

  async getInventory(id: ResourceId) {
    const { rows } = await this.driver.query('SELECT * FROM inventory WHERE tenant = ? AND kind = ? AND name = ?', [id.tenant, id.kind, id.name]);
    return rows[0] && inventoryEntry(rows[0]);
  }

  async getBlob(id: ResourceId, purpose: string) {
    const { rows } = await this.driver.query(`SELECT sealed FROM blobs WHERE ${idWhere} AND purpose = ?`, [...idParams(id), purpose]);
    return rows[0] ? Buffer.from(rows[0].sealed as Uint8Array) : undefined;
  }

  async listProvisioned(id: ResourceId) {
    const owned = new Map<string, boolean>();
    for (const [anchor, confirmed] of await this.driver.arrays(`SELECT anchor, confirmed FROM provisioned WHERE ${idWhere}`, idParams(id))) owned.set(anchor as string, Number(confirmed) === 1);
    return owned;
  }

  async getProvisionedState(id: ResourceId) {
    const [row] = await this.driver.arrays(`SELECT state FROM provisioned_state WHERE ${idWhere}`, idParams(id));
    return row ? (JSON.parse(row[0] as string) as ProvisionedState) : undefined;
  }

  async userVersion(tenant: string, source: string) {
    const [row] = await this.driver.arrays('SELECT version FROM user_versions WHERE tenant = ? AND source = ?', [tenant, source]);
    return row ? Number(row[0]) : 0;
  }

  async listBlobs(id: ResourceId) {
    const { rows } = await this.driver.query(`SELECT purpose FROM blobs WHERE ${idWhere} ORDER BY purpose`, idParams(id));
    return rows.map((r) => r.purpose as string);
  }

  async listNotifications(filter: { active?: boolean; id?: ResourceId; limit?: number } = {}) {
    const { where, params } = notificationWhere(filter);
    const sql = `SELECT * FROM notifications${where} ORDER BY last_seen DESC, tenant, kind, name, reason${filter.limit ? ` LIMIT ${Math.floor(filter.limit)}` : ''}`;
    const { rows } = await this.driver.query(sql, params);
    return rows.map(toNotification);
  }

  async countNotifications(filter: { active?: boolean } = {}) {
    const { where, params } = notificationWhere(filter);
    const { rows } = await this.driver.query(`SELECT COUNT(*) AS n FROM notifications${where}`, params);
    return Number(rows[0]!.n);
  }

  async listAudit(limit = 100, id?: ResourceId) {
    const { rows } = id
      ? await this.driver.query(`SELECT * FROM audit WHERE ${idWhere} ORDER BY id DESC LIMIT ?`, [...idParams(id), limit])
      : await this.driver.query('SELECT * FROM audit ORDER BY id DESC LIMIT ?', [limit]);
    return rows.map(
      (r): AuditEntry => ({
        id: Number(r.id),
        at: r.at as string,
        ...idOf(r),
        action: r.action as string,
        source: r.source as string,
        revision: r.revision as string,
        actor: r.actor as string,
        detail: JSON.parse(r.detail as string),
      }),
    );
  }

  async listUsers(tenant: string) {
    const { rows } = await this.driver.query('SELECT * FROM users WHERE tenant = ? ORDER BY id', [tenant]);
    return rows.map(toUser);
  }

  async listUsersPage(o: { tenant?: string; text?: string; offset: number; limit: number }) {
    const conditions: string[] = [];
    const params: unknown[] = [];
    if (o.tenant) {
      conditions.push('tenant = ?');
      params.push(o.tenant);
    }
    if (o.text) {
      const like = containing(o.text.toLowerCase());
      conditions.push("(LOWER(upn) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(display_name, '')) LIKE ? ESCAPE '\\')");
      params.push(like, like, like);
    }
    const where = whereSql(conditions);
    const [{ rows: counted }, { rows }] = await Promise.all([
      this.driver.query(`SELECT COUNT(*) AS n FROM users${where}`, params),
      this.driver.query(`SELECT * FROM users${where} ORDER BY upn, tenant, id LIMIT ? OFFSET ?`, [...params, o.limit, o.offset]),
    ]);
    return { users: rows.map(toUser), total: Number(counted[0]!.n) };
  }

  async forEachUser(tenant: string, source: string, each: (user: UserFields) => void) {
    await this.sourceUsers(USER_FIELD_COLUMNS.join(', '), [], tenant, source, (r) => each(userFieldsOf(r)));
  }

  async forEachUserValues(tenant: string, source: string, values: UserValue[], each: (row: (string | null)[]) => void) {
    const params: string[] = [];
    const columns = values.map((v) => {
      if ('field' in v) return USER_VALUE_COLUMNS[v.field];
      // Sources name custom attributes as ATTRIBUTE_NAME says: no user holds another name.
      if (!ATTRIBUTE_NAME.test(v.attribute)) return 'NULL';
      const [sql, args] = ATTRIBUTE_VALUE[this.driver.dialect](v.attribute);
      params.push(...args);
      return sql;
    });
    await this.sourceUsers(['id', ...columns].join(', '), params, tenant, source, each as (row: unknown[]) => void);
  }

  async listUserDigests(tenant: string, source: string) {
    const digests = new Map<string, string>();
    await this.sourceUsers(`id, ${USER_DIGEST_SQL}`, USER_DIGEST_PARAMS, tenant, source, ([id, digest]) => digests.set(id as string, digest as string));
    return digests;
  }

  // A source's users in chunks by id (the primary key's order), yielding to the event loop between
  // them: SQLite's queries block the thread, and a sync reads the stored users while it reads the source.
  // Each row is an array of `columns`, the id first.
  private async sourceUsers(columns: string, params: readonly unknown[], tenant: string, source: string, each: (row: unknown[]) => void) {
    const sql = `SELECT ${columns} FROM users WHERE tenant = ? AND source = ? AND id > ? ORDER BY id LIMIT ${DIGEST_CHUNK}`;
    for (let after = ''; ; ) {
      const rows = await this.driver.arrays(sql, [...params, tenant, source, after]);
      if (rows.length === DIGEST_CHUNK) after = rows[rows.length - 1]![0] as string; // before `each`: the rows are its to keep, and change
      for (const r of rows) each(r);
      if (rows.length < DIGEST_CHUNK) return;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async listInvitations(tenant?: string) {
    const { rows } = await this.driver.query(`SELECT * FROM invitations${tenant ? ' WHERE tenant = ?' : ''} ORDER BY tenant, queued_at, user_id`, tenant ? [tenant] : []);
    return rows.map((r): Invitation => ({ tenant: r.tenant as string, userId: r.user_id as string, source: r.source as string, email: r.email as string, queuedAt: r.queued_at as string }));
  }

  async listCertificates(filter: CertificateFilter) {
    const facts = certificateFacts();
    return (await this.queryCertificates('*', filter)).map(
      (r): IssuedCertificate => ({
        ...facts(r),
        certificate: Buffer.from(r.certificate as Uint8Array),
        ...(r.chain == null ? {} : { chain: r.chain as string }),
        ...(r.sealed_key == null ? {} : { sealedKey: Buffer.from(r.sealed_key as Uint8Array) }),
      }),
    );
  }

  async listCertificateFacts(filter: CertificateFilter) {
    return (await this.queryCertificates('tenant, configuration, user_id, serial, subject, not_before, not_after, fingerprint, content_hash, issuer_key, issued_at', filter)).map(certificateFacts());
  }

  private async queryCertificates(columns: string, filter: CertificateFilter) {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.tenant) (where.push('tenant = ?'), params.push(filter.tenant));
    if (filter.configuration) (where.push('configuration = ?'), params.push(filter.configuration));
    const sql = `SELECT ${columns} FROM certificates${whereSql(where)} ORDER BY tenant, configuration, user_id`;
    return (await this.driver.query(sql, params)).rows;
  }

  // Commits run one at a time (resources applied in parallel share one connection on SQLite), and
  // those that queue up behind a running one go in together: one transaction, one sync to disk.
  // Each batch stays whole: if the group fails, its batches are tried one by one.
  // A batch that puts staged users runs alone, on its stage's session.
  private pending: { writes: Write[]; stage?: SqlUserStage; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private running = false;

  commit(writes: Write[]): Promise<void> {
    if (writes.length === 0) return Promise.resolve();
    const stages = new Set<SqlUserStage>();
    for (const w of writes) {
      if (w.op !== 'putStagedUsers') continue;
      if (!(w.stage instanceof SqlUserStage) || !this.stages.has(w.stage)) return Promise.reject(new Error('staged users are committed by the store that staged them'));
      stages.add(w.stage);
    }
    if (stages.size > 1) return Promise.reject(new Error('one commit puts the users of one stage'));
    const [stage] = stages;
    return new Promise((resolve, reject) => {
      this.pending.push({ writes, stage, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain() {
    this.running = true;
    while (this.pending.length) {
      const staged = this.pending[0]!;
      if (staged.stage) {
        this.pending.shift();
        try {
          await staged.stage.flush();
          await staged.stage.session.transaction(async (exec) => {
            for (const w of staged.writes) await execWrite(exec, w, this.driver.dialect);
            for (const bump of usersVersioned(staged.writes)) await exec(...bump);
          });
          this.writes += staged.writes.length;
          staged.resolve();
        } catch (e) {
          staged.reject(e);
        }
        continue;
      }
      const next = this.pending.findIndex((b) => b.stage);
      const group = this.pending.splice(0, next < 0 ? this.pending.length : next);
      try {
        await this.run(group.flatMap((b) => b.writes));
        this.writes += group.reduce((n, b) => n + b.writes.length, 0);
        for (const b of group) b.resolve();
      } catch (e) {
        if (group.length === 1) group[0]!.reject(e);
        else {
          for (const b of group) {
            try {
              await this.run(b.writes);
              this.writes += b.writes.length;
              b.resolve();
            } catch (err) {
              b.reject(err);
            }
          }
        }
      }
    }
    this.running = false;
  }

  private run(writes: Write[]) {
    return this.driver.transaction(async (exec) => {
      for (const w of writes) await execWrite(exec, w, this.driver.dialect);
      for (const bump of usersVersioned(writes)) await exec(...bump);
    });
  }

  private readonly stages = new Set<SqlUserStage>();
  /** Numbers of the stage tables in use: SQLite's one connection holds every stage's. */
  private readonly stageNumbers = new Set<number>();

  async stageUsers(): Promise<UserStage> {
    let n = 0;
    while (this.stageNumbers.has(n)) n++;
    this.stageNumbers.add(n);
    const table = `user_stage_${n}`;
    let session: Session | undefined;
    try {
      session = await this.driver.session();
      await session.query(`DROP TABLE IF EXISTS ${table}`);
      await session.query(`CREATE TEMP TABLE ${table} (seq INTEGER NOT NULL, tenant TEXT NOT NULL, id TEXT NOT NULL, ${USER_COLUMNS.map((c) => `${c} TEXT`).join(', ')})`);
    } catch (e) {
      await session?.release(true);
      this.stageNumbers.delete(n);
      throw e;
    }
    const stage = new SqlUserStage(session, table, () => {
      this.stages.delete(stage);
      this.stageNumbers.delete(n);
    });
    this.stages.add(stage);
    return stage;
  }

  // Locks are coordination, not tenant state: they do not count as writes.
  async lock(name: string, holder: string, ttlMs: number, steal?: (holder: string) => boolean) {
    const now = Date.now();
    const take = (unless: string) =>
      this.driver.query(
        `INSERT INTO locks (name, holder, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at WHERE ${unless}`,
        [name, holder, now + ttlMs, now, holder],
      );
    if ((await take('locks.expires_at < ? OR locks.holder = ?')).changes) return undefined;
    const { rows } = await this.driver.query('SELECT holder FROM locks WHERE name = ?', [name]);
    const current = rows[0]?.holder as string | undefined;
    if (current && steal?.(current)) {
      const r = await this.driver.query('UPDATE locks SET holder = ?, expires_at = ? WHERE name = ? AND holder = ?', [holder, now + ttlMs, name, current]);
      if (r.changes) return undefined;
    }
    return current ?? 'someone';
  }

  async renew(name: string, holder: string, ttlMs: number) {
    // A taker replaces the holder and deletes the row when done: either way this matches nothing.
    const r = await this.driver.query('UPDATE locks SET expires_at = ? WHERE name = ? AND holder = ?', [Date.now() + ttlMs, name, holder]);
    return r.changes > 0;
  }

  async unlock(name: string, holder: string) {
    await this.driver.query('DELETE FROM locks WHERE name = ? AND holder = ?', [name, holder]);
  }

  close() {
    return this.driver.close();
  }
}
