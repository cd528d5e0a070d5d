// One sync of an LdapSource: read the directory, decide with identity/sync.ts what changes, and
// say how it went in status and notifications. An unreachable directory, a failure mid-read or an
// empty answer never deletes users.
import { blobAad } from '../../engine/context.js';
import type { Engine } from '../../engine/context.js';
import type { SecretResolver } from '../../engine/secrets.js';
import { readLdapDirectory, type LdapReadSpec } from '../../identity/ldap-directory.js';
import { syncRound, type SyncRound } from '../../identity/sync.js';
import type { DirectoryUser, StoredRecord, Write } from '../../store/types.js';

export interface SyncResult {
  round?: SyncRound;
  error?: string;
  userCount: number;
}

export async function syncLdapSource(engine: Engine, record: StoredRecord, secrets: SecretResolver, options: { allowMassDelete?: boolean; actor: string; now?: Date } = { actor: 'mdmops' }): Promise<SyncResult> {
  const id = { tenant: record.tenant, kind: record.kind, name: record.name };
  const source = `LdapSource/${record.name}`;
  const spec = record.spec as unknown as LdapReadSpec & { bindPasswordSecretRef: { name: string; key: string } };
  const started = Date.now();
  const existing = await engine.store.listUsers(record.tenant);
  let round: SyncRound | undefined;
  let error: string | undefined;
  let groupCount: number | undefined;
  try {
    const password = await secrets.resolve(record.tenant, spec.bindPasswordSecretRef);
    if (password === undefined) throw new Error(`secret ${spec.bindPasswordSecretRef.name}/${spec.bindPasswordSecretRef.key} (the bind password) not found`);
    const sealedCa = await engine.store.getBlob(id, 'file:spec.tls.caCertificates');
    const caPem = sealedCa && engine.key.open(sealedCa, blobAad(id, 'file:spec.tls.caCertificates')).toString();
    const read = await readLdapDirectory(spec, password, caPem);
    groupCount = read.groupCount;
    const incoming: DirectoryUser[] = read.users.map((u) => ({
      tenant: record.tenant,
      id: `${source}/${u.uid}`,
      source,
      upn: u.upn ?? u.email ?? u.uid,
      ...(u.email ? { email: u.email } : {}),
      ...(u.displayName ? { displayName: u.displayName } : {}),
      groups: u.groups,
      attributes: u.attributes,
      labels: {},
    }));
    round = syncRound(source, existing, incoming, options.allowMassDelete);
  } catch (e) {
    error = `${spec.url}: ${(e as Error).message}`;
  }
  const at = (options.now ?? new Date()).toISOString();
  const applied = round && !round.blocked ? round : undefined;
  const before = existing.filter((u) => u.source === source).length;
  const userCount = applied ? before + applied.added - applied.removed : before;
  const problem = error ?? round?.blocked;
  const reason = error ? 'LdapUnreachable' : 'LdapDeletionBlocked';
  const writes: Write[] = [...(applied?.writes ?? [])];
  const { lastError: _e, ...kept } = record.status;
  const status = { ...kept, lastSyncTime: at, lastSyncDuration: `${Date.now() - started}ms`, userCount, ...(groupCount === undefined ? {} : { groupCount }), ...(problem ? { lastError: problem } : {}) };
  writes.push({ op: 'putRecord', record: { ...record, status, updatedAt: at } });
  for (const r of ['LdapUnreachable', 'LdapDeletionBlocked']) {
    if (problem && r === reason) writes.push({ op: 'notify', notification: { ...id, reason, severity: 'Warning', message: problem, lastSeen: at } });
    else writes.push({ op: 'resolveNotification', id, reason: r });
  }
  if (applied) {
    writes.push({ op: 'audit', entry: { at, ...id, action: 'sync', source: 'sync', revision: '-', actor: options.actor, detail: { added: applied.added, updated: applied.updated, removed: applied.removed } } });
  }
  await engine.store.commit(writes);
  return { round, error, userCount };
}
