// The tenant store: the actual state the reconciler owns. Backends: SQLite (default) and PostgreSQL.
import type { CertificateFacts, DirectoryUser, UserFields, UserValue } from '../api/index.js';

/** The configuration record of one resource, as it stands in the tenant. */
export interface StoredRecord {
  tenant: string;
  kind: string;
  name: string;
  /** The spec in force in the tenant; a console edit changes it (drift). */
  spec: Record<string, unknown>;
  /** Digest of the spec as mdmops last wrote it: when the spec no longer matches it, someone edited it. */
  specHash: string;
  /** Digest of the desired input mdmops last applied (spec, file contents, secret values). */
  desiredHash: string;
  /** Increments whenever the applied spec changes. */
  generation: number;
  /** Each referenced file by field path: its name as declared (the extension tells what it holds), for export. */
  files: Record<string, { name: string }>;
  /** Keyed digest of each secret's value by field path; null when the secret was missing. */
  secrets: Record<string, string | null>;
  status: Record<string, unknown>;
  /** False once mdmops let go of it (deletionPolicy Orphan). */
  managed: boolean;
  updatedAt: string;
  /** metadata.labels and metadata.annotations as declared; absent when there are none. */
  metadata?: RecordMetadata;
}

export interface RecordMetadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Which source applied a resource, and from which revision: what prune works from. */
export interface InventoryEntry {
  tenant: string;
  kind: string;
  name: string;
  source: string;
  revision: string;
  appliedAt: string;
}

export type Severity = 'Info' | 'Warning' | 'Error';

export interface Notification {
  tenant: string;
  kind: string;
  name: string;
  reason: string;
  severity: Severity;
  message: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  active: boolean;
}

export interface AuditEntry {
  id?: number;
  at: string;
  tenant: string;
  kind: string;
  name: string;
  action: string;
  source: string;
  revision: string;
  actor: string;
  detail: Record<string, unknown>;
}

/** A record as lists show it: its key, its Ready condition (readySummary) and when it last changed. */
export interface RecordSummary {
  tenant: string;
  kind: string;
  name: string;
  ready: string;
  /** The Ready reason when not ready, else ''. */
  reason: string;
  /** The Ready message, ready or not. */
  message: string;
  updatedAt: string;
}

export const RECORD_SORTS = ['resource', 'ready', 'reason', 'updated'] as const;
export type RecordSort = (typeof RECORD_SORTS)[number];

/** Which records a list shows, and in which order (by Kind/name as users see it, unless sorted otherwise). */
export interface RecordQuery {
  kind?: string;
  tenant?: string;
  ready?: string;
  reason?: string;
  /** Held by Kind/name as users see it, or by the Ready message, whatever the case. */
  text?: string;
  sort?: RecordSort;
}

/** One sync of a source: when it ended, how long it took, how many users it left, how it went. */
export interface SyncHistoryEntry {
  at: string;
  durationMs: number;
  userCount: number;
  /** synced, blocked or failed. */
  outcome: string;
}

export interface ResourceId {
  tenant: string;
  kind: string;
  name: string;
}

/** An invitation to enrol, sent by e-mail to a newly imported user (autoInviteUsers). */
export interface Invitation {
  tenant: string;
  userId: string;
  source: string;
  email: string;
  queuedAt: string;
}

/** An identity certificate issued to one user for one CertificateConfiguration. */
export type CertificateFilter = { tenant?: string; configuration?: string };

export interface IssuedCertificate extends CertificateFacts {
  /** DER. */
  certificate: Buffer;
  /** PEM: the CAs above it, when the CA handed them out with it (ACME). */
  chain?: string;
  /** The private key, PKCS#8 sealed under the master key; absent when the key never left the device. */
  sealedKey?: Buffer;
}

/** One write; a batch of them commits in one transaction or not at all. */
export type Write =
  | {
      op: 'putRecord';
      record: StoredRecord;
      /**
       * The spec as mdmops last applied it, kept while the tenant's copy is edited outside mdmops
       * (the first edit's "before" stays), so that drift can be shown field by field; null once a
       * spec from the configuration is written. Left as it is when not given.
       */
      appliedSpec?: Record<string, unknown> | null;
    }
  | { op: 'deleteRecord'; id: ResourceId }
  /** Only the status of a record that exists: a sync reports on a record an apply may be changing meanwhile. */
  | { op: 'putStatus'; id: ResourceId; status: Record<string, unknown>; updatedAt: string }
  | { op: 'putInventory'; entry: InventoryEntry }
  | { op: 'deleteInventory'; id: ResourceId }
  /** Sealed: the store never sees key material in the clear. */
  | { op: 'putBlob'; id: ResourceId; purpose: string; sealed: Buffer }
  | { op: 'deleteBlobs'; id: ResourceId }
  /** Seen again: count and last seen grow, first seen stays. */
  | { op: 'notify'; notification: Omit<Notification, 'count' | 'firstSeen' | 'active'> }
  | { op: 'resolveNotification'; id: ResourceId; reason: string }
  | { op: 'audit'; entry: AuditEntry }
  /** One more sync in the source's history; the oldest beyond the last SYNC_HISTORY go. */
  | { op: 'recordSync'; id: ResourceId; sync: SyncHistoryEntry }
  | { op: 'setMeta'; key: string; value: string }
  | { op: 'deleteMeta'; key: string }
  /** columns: userColumns(user), when the caller has them already (a sync computes them as users arrive). */
  | { op: 'putUser'; user: DirectoryUser; columns?: (string | null)[] }
  | { op: 'deleteUser'; tenant: string; id: string }
  /** Every user put in the stage (Store.stageUsers), as putUser each; a commit holds at most one. */
  | { op: 'putStagedUsers'; stage: UserStage }
  /** Queued once per user: a user invited before is not invited again. */
  | { op: 'invite'; invitation: Invitation }
  | { op: 'putCertificate'; certificate: IssuedCertificate }
  | { op: 'deleteCertificate'; tenant: string; configuration: string; userId: string }
  | { op: 'deleteCertificates'; tenant: string; configuration: string }
  /** Rows a resource wrote outside the store, by anchor: claimed before they are written, confirmed after (or taken over, confirmed). */
  | { op: 'putProvisioned'; id: ResourceId; anchors: string[]; confirmed: boolean }
  /** Confirms anchors this resource has claimed: their rows are written; without anchors, every claim of the resource. */
  | { op: 'confirmProvisioned'; id: ResourceId; anchors?: string[] }
  /** Lets go of them; without anchors, of all the resource's (and of its ProvisionedState). */
  | { op: 'deleteProvisioned'; id: ResourceId; anchors?: string[] }
  | { op: 'putProvisionedState'; id: ResourceId; state: ProvisionedState }
  | { op: 'deleteProvisionedState'; id: ResourceId };

/**
 * What a resource's last complete run of provisioning left: the fingerprint of what it wrote from
 * (the source's userVersion, a digest of the layout, a checksum of the table by its server), and the
 * outcome to report again while all three stay the same.
 */
export interface ProvisionedState {
  userVersion: number;
  layout: string;
  table: string;
  outcome: Record<string, unknown>;
}

/**
 * Users to be put, staged by a sync while it reads its source: none of them is in the tenant until
 * a commit with putStagedUsers, and staging holds no lock on the tenant's tables.
 */
export interface UserStage {
  /** Stages a user with its columns (userColumns); one staged again replaces the one before. */
  put(user: DirectoryUser, columns: (string | null)[]): void;
  /** Takes a staged user out again. */
  unstage(tenant: string, id: string): void;
  /** Drops the stage and what it holds; the users of a commit that put them stay put. */
  close(): Promise<void>;
}

export interface Store {
  readonly location: string;
  /** Statements that changed something, since open: the no-op apply must leave it at zero. */
  readonly writes: number;
  getMeta(key: string): Promise<string | undefined>;
  listRecords(filter?: { tenant?: string; kind?: string }): Promise<StoredRecord[]>;
  getRecord(id: ResourceId): Promise<StoredRecord | undefined>;
  listInventory(source?: string): Promise<InventoryEntry[]>;
  /** Which source applied this resource, if any. */
  getInventory(id: ResourceId): Promise<InventoryEntry | undefined>;
  getBlob(id: ResourceId, purpose: string): Promise<Buffer | undefined>;
  listBlobs(id: ResourceId): Promise<string[]>;
  /** Records of a tenant whose spec holds `name` as a string: a superset of those that reference it, to check one by one. */
  listRecordsMentioning(tenant: string, name: string): Promise<StoredRecord[]>;
  /** One page of the records a query keeps, and how many it keeps. */
  listRecordSummaries(q: RecordQuery & { offset: number; limit: number }): Promise<{ rows: RecordSummary[]; total: number }>;
  /** Every record a query keeps, in its order, a chunk at a time: an export holds one chunk at once. */
  forEachRecordSummary(q: RecordQuery, each: (chunk: RecordSummary[]) => Promise<void> | void): Promise<void>;
  /** How many records there are by kind and Ready, and which kinds and tenants there are. */
  countRecords(): Promise<{ byKindReady: { kind: string; ready: string; count: number }[]; kinds: string[]; tenants: string[] }>;
  /** Notifications, newest first; of one resource with `id`; the first `limit`. */
  listNotifications(filter?: { active?: boolean; id?: ResourceId; limit?: number }): Promise<Notification[]>;
  countNotifications(filter?: { active?: boolean }): Promise<number>;
  /** The newest audit entries first; of one resource with `id`. */
  listAudit(limit?: number, id?: ResourceId): Promise<AuditEntry[]>;
  /** A source's last syncs, oldest first. */
  listSyncHistory(id: ResourceId): Promise<SyncHistoryEntry[]>;
  /** The spec mdmops last applied to a record edited outside mdmops since (see the putRecord write); undefined when not edited. */
  getAppliedSpec(id: ResourceId): Promise<Record<string, unknown> | undefined>;
  listUsers(tenant: string): Promise<DirectoryUser[]>;
  /** One page of users by UPN, of a tenant or of all, those whose UPN, email or name holds `text`; and how many match. */
  listUsersPage(o: { tenant?: string; text?: string; offset: number; limit: number }): Promise<{ users: DirectoryUser[]; total: number }>;
  /** Each user of one source (its own fields: no groups or labels), in id order, a few thousand read at a time: for work that need not hold them all. */
  forEachUser(tenant: string, source: string, each: (user: UserFields) => void): Promise<void>;
  /**
   * The values of each user of one source, in id order, a few thousand read at a time: each row is
   * the user's id, then `values` in order (NULL where it has none), the custom attributes taken out
   * of their JSON by the database. A row is the caller's to keep.
   */
  forEachUserValues(tenant: string, source: string, values: UserValue[], each: (row: (string | null)[]) => void): Promise<void>;
  /**
   * The users of one source by id, each with the digest of what is stored for it (see user-digest.ts).
   * Listed a few thousand at a time, letting other work run in between: a sync lists them while it reads.
   */
  listUserDigests(tenant: string, source: string): Promise<Map<string, string>>;
  /** A stage for the users a sync round puts; optional: without one, a round's users are put one by one. */
  stageUsers?(): Promise<UserStage>;
  listInvitations(tenant?: string): Promise<Invitation[]>;
  /** The anchors of the rows a resource wrote outside the store, each with whether its write was confirmed. */
  listProvisioned(id: ResourceId): Promise<Map<string, boolean>>;
  getProvisionedState(id: ResourceId): Promise<ProvisionedState | undefined>;
  /** A number that grows with every write of a source's users (put, changed, taken out, moved to another source); 0 before the first. */
  userVersion(tenant: string, source: string): Promise<number>;
  listCertificates(filter: CertificateFilter): Promise<IssuedCertificate[]>;
  /** As listCertificates, without reading the certificates and keys themselves. */
  listCertificateFacts(filter: CertificateFilter): Promise<CertificateFacts[]>;
  commit(writes: Write[]): Promise<void>;
  /**
   * Takes (or renews) a named lock until `ttlMs` from now, unless someone else holds it unexpired,
   * or `steal` says their hold no longer counts. Returns undefined when taken, else the holder.
   */
  lock(name: string, holder: string, ttlMs: number, steal?: (holder: string) => boolean): Promise<string | undefined>;
  /**
   * Extends a lock until `ttlMs` from now if this holder still holds it (even past its time, as long
   * as no one took it since); false when another took it over, even if they have let it go since.
   */
  renew(name: string, holder: string, ttlMs: number): Promise<boolean>;
  unlock(name: string, holder: string): Promise<void>;
  close(): Promise<void>;
}
