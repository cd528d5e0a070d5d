// Versioned schema changes, applied in order. A store at a higher version than the last one here
// was written by a newer mdmops and is refused rather than misread.
export type Dialect = 'sqlite' | 'postgres';

const types = {
  sqlite: { bytes: 'BLOB', id: 'INTEGER PRIMARY KEY AUTOINCREMENT' },
  postgres: { bytes: 'BYTEA', id: 'BIGSERIAL PRIMARY KEY' },
};

/** Kind/name as users see it (displayName: the tenant after the kind unless it is default), compared byte by byte on both backends. */
export const shownSql = (d: Dialect) => `(CASE WHEN tenant = 'default' THEN kind || '/' || name ELSE kind || '/' || tenant || '/' || name END)${d === 'postgres' ? ' COLLATE "C"' : ''}`;

/** One more on the version of the source a user was in (OLD in a trigger on users). */
const BUMP_OLD_SOURCE = `INSERT INTO user_versions (tenant, source, version) VALUES (OLD.tenant, OLD.source, 1)
             ON CONFLICT (tenant, source) DO UPDATE SET version = user_versions.version + 1`;

export const MIGRATIONS: ((d: Dialect) => string[])[] = [
  (d) => [
    `CREATE TABLE records (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
       spec TEXT NOT NULL, spec_hash TEXT NOT NULL, desired_hash TEXT NOT NULL, generation INTEGER NOT NULL,
       files TEXT NOT NULL, secrets TEXT NOT NULL, status TEXT NOT NULL,
       managed INTEGER NOT NULL, updated_at TEXT NOT NULL,
       PRIMARY KEY (tenant, kind, name))`,
    `CREATE TABLE inventory (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
       source TEXT NOT NULL, revision TEXT NOT NULL, applied_at TEXT NOT NULL,
       PRIMARY KEY (tenant, kind, name))`,
    `CREATE TABLE blobs (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, purpose TEXT NOT NULL,
       sealed ${types[d].bytes} NOT NULL,
       PRIMARY KEY (tenant, kind, name, purpose))`,
    `CREATE TABLE notifications (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, reason TEXT NOT NULL,
       severity TEXT NOT NULL, message TEXT NOT NULL, count INTEGER NOT NULL,
       first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, active INTEGER NOT NULL,
       PRIMARY KEY (tenant, kind, name, reason))`,
    `CREATE TABLE audit (
       id ${types[d].id}, at TEXT NOT NULL, tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
       action TEXT NOT NULL, source TEXT NOT NULL, revision TEXT NOT NULL, actor TEXT NOT NULL, detail TEXT NOT NULL)`,
  ],
  // Only one apply at a time per store; a lock whose holder stopped renewing it expires.
  () => ['CREATE TABLE locks (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at BIGINT NOT NULL)'],
  // Directory users (from identity sources) and the identity certificates issued to them.
  (d) => [
    `CREATE TABLE users (
       tenant TEXT NOT NULL, id TEXT NOT NULL, source TEXT NOT NULL, upn TEXT NOT NULL, email TEXT,
       display_name TEXT, groups_json TEXT NOT NULL, attributes TEXT NOT NULL, labels TEXT NOT NULL,
       PRIMARY KEY (tenant, id))`,
    `CREATE TABLE certificates (
       tenant TEXT NOT NULL, configuration TEXT NOT NULL, user_id TEXT NOT NULL,
       serial TEXT NOT NULL, subject TEXT NOT NULL, not_before TEXT NOT NULL, not_after TEXT NOT NULL,
       fingerprint TEXT NOT NULL, content_hash TEXT NOT NULL, issuer_key TEXT NOT NULL,
       certificate ${types[d].bytes} NOT NULL, chain TEXT, sealed_key ${types[d].bytes}, issued_at TEXT NOT NULL,
       PRIMARY KEY (tenant, configuration, user_id))`,
  ],
  // Managed Apple IDs built by identity sources, and the outbox of enrolment invitations (one per user, ever).
  () => [
    'ALTER TABLE users ADD COLUMN apple_id TEXT',
    `CREATE TABLE invitations (
       tenant TEXT NOT NULL, user_id TEXT NOT NULL, source TEXT NOT NULL, email TEXT NOT NULL,
       queued_at TEXT NOT NULL, PRIMARY KEY (tenant, user_id))`,
  ],
  // The controller's inventory sources were kubernetes:Kind/name, shared by same-named resources of
  // every tenant; they are kubernetes:tenant/Kind/name now (each row knows its tenant).
  () => [
    `UPDATE inventory SET source = 'kubernetes:' || tenant || '/' || substr(source, 12)
       WHERE source LIKE 'kubernetes:%' AND source NOT LIKE 'kubernetes:%/%/%'`,
  ],
  // A resource's labels and annotations are kept with its record.
  () => [`ALTER TABLE records ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}'`],
  // Directory users' given name and surname. They are part of a user's digest (user-digest.ts): the
  // first sync after the upgrade sees each user the source gives a given name or surname as changed,
  // once, and that round fills the new columns.
  () => ['ALTER TABLE users ADD COLUMN first_name TEXT', 'ALTER TABLE users ADD COLUMN last_name TEXT'],
  // What a resource made outside the store and alone may change: the anchors of the rows a
  // SqlProvisioning wrote. An anchor is claimed (confirmed 0) before its row is written and
  // confirmed after, so that a run killed between the two is repaired by the next.
  () => [
    `CREATE TABLE provisioned (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, anchor TEXT NOT NULL, confirmed INTEGER NOT NULL,
       PRIMARY KEY (tenant, kind, name, anchor))`,
  ],
  // The source's ids of a directory user's groups, beside their names (two groups may share a name).
  // Part of the digest: the first sync after the upgrade sees each Entra ID user in a group as
  // changed, once, and fills the column.
  () => ['ALTER TABLE users ADD COLUMN group_ids_json TEXT'],
  // Each record's Ready condition beside it (status, reason when not ready, message), kept on every
  // write (api/condition.ts readySummary) and filled in for the records there are (sql-store.ts
  // FILLS): the console filters, sorts, pages and counts resources in SQL, in the order users see
  // them by default. One resource's history is read by its key; the newest active notifications first.
  (d) => [
    "ALTER TABLE records ADD COLUMN ready TEXT NOT NULL DEFAULT 'Unknown'",
    "ALTER TABLE records ADD COLUMN ready_reason TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE records ADD COLUMN ready_message TEXT NOT NULL DEFAULT ''",
    'CREATE INDEX records_kind_ready ON records (kind, ready)',
    `CREATE INDEX records_shown ON records ((${shownSql(d)}))`,
    'CREATE INDEX audit_resource ON audit (tenant, kind, name, id)',
    'CREATE INDEX notifications_active ON notifications (active, last_seen)',
  ],
  // The last syncs of each source (when, how long, how many users, how it went), for the console's
  // charts; each source keeps its last SYNC_HISTORY (sql-store.ts).
  () => [
    `CREATE TABLE sync_history (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, at TEXT NOT NULL,
       duration_ms INTEGER NOT NULL, user_count INTEGER NOT NULL, outcome TEXT NOT NULL,
       PRIMARY KEY (tenant, kind, name, at))`,
  ],
  // The spec as mdmops last applied it, kept only while a record is edited outside mdmops: the
  // console shows that drift field by field.
  () => ['ALTER TABLE records ADD COLUMN applied_spec TEXT'],
  // A version of each source's users, one more on every write of them (sql-store.ts before(), and the
  // trigger below), and
  // what each SqlProvisioning's last complete run left (its fingerprint): a run that finds the users,
  // the layout and the table's checksum as they were then has nothing to write. On SQLite, the
  // anchors are kept in their key's order alone (WITHOUT ROWID), not once in a table and again in
  // its key: a run claims and lists 100,000 of them.
  (d) => [
    'CREATE TABLE user_versions (tenant TEXT NOT NULL, source TEXT NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (tenant, source))',
    // A user put into another source changes the one it leaves too: a trigger, as the statement that
    // moves 100,000 staged users does not know their sources before (and checks a row in nothing else).
    ...(d === 'sqlite'
      ? [
          `CREATE TRIGGER users_moved AFTER UPDATE OF source ON users WHEN old.source IS NOT new.source BEGIN
             ${BUMP_OLD_SOURCE};
           END`,
        ]
      : [
          `CREATE FUNCTION mdmops_user_moved() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
             ${BUMP_OLD_SOURCE};
             RETURN NULL;
           END $$`,
          'CREATE TRIGGER users_moved AFTER UPDATE OF source ON users FOR EACH ROW WHEN (OLD.source IS DISTINCT FROM NEW.source) EXECUTE FUNCTION mdmops_user_moved()',
        ]),
    `CREATE TABLE provisioned_state (
       tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, state TEXT NOT NULL,
       PRIMARY KEY (tenant, kind, name))`,
    ...(d === 'sqlite'
      ? [
          `CREATE TABLE provisioned_keyed (
             tenant TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, anchor TEXT NOT NULL, confirmed INTEGER NOT NULL,
             PRIMARY KEY (tenant, kind, name, anchor)) WITHOUT ROWID`,
          'INSERT INTO provisioned_keyed SELECT tenant, kind, name, anchor, confirmed FROM provisioned',
          'DROP TABLE provisioned',
          'ALTER TABLE provisioned_keyed RENAME TO provisioned',
        ]
      : []),
  ],
];

export const SCHEMA_VERSION = MIGRATIONS.length;
