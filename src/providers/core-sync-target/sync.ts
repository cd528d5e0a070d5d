// Sending the tenant's configuration to a peer core. Nothing goes to a target without a pin, nor to
// one whose pin was dropped; the pin is checked during the handshake, before a byte of the request
// is written. A target that already holds the content gets a small check, not the bundle.
import { X509Certificate } from 'node:crypto';
import type { CoreSyncTarget } from '../../api/index.js';
import type { SecretResolver } from '../../config/secrets.js';
import type { Notice, ProviderContext, SyncOptions, SyncReport } from '../../engine/provider.js';
import { parseDuration } from '../../api/duration.js';
import { ClientCertificateRefused, pinnedRequest, PinMismatch, presentedLeaf, type PresentedLeaf } from '../../net/pinned-https.js';
import { fullyQualifiedHostName } from '../../net/host-name.js';
import { normalFingerprint } from '../../net/tls-certificate.js';
import type { StoredRecord, Write } from '../../store/types.js';
import { messageOf } from '../../util/message-of.js';
import { syncWrites, type SpecOf, type WithSpec } from '../record.js';
import { buildBundle, contentHash } from './bundle.js';

type Spec = SpecOf<typeof CoreSyncTarget>;
type Target = WithSpec<StoredRecord, Spec>;

/** Notification reasons a sync raises or clears. */
export const CORE_REASONS = ['CoreNotTrusted', 'CoreCertificateChanged', 'CoreSyncAuthFailed', 'CoreSyncRefused', 'CoreSyncFailing'] as const;
type Reason = (typeof CORE_REASONS)[number];

/** Failures in a row before CoreSyncFailing, as the product retries an item five times. */
export const FAILURES_BEFORE_NOTICE = 5;
/** The first retry after a failure; doubled each time, up to syncInterval. */
const RETRY_MS = 10_000;

export const CORE_SYNC_PATH = { check: '/v1/core-sync/check', bundles: '/v1/core-sync/bundles' };

interface Attempt {
  result: 'Applied' | 'Unchanged' | 'Untrusted' | 'Blocked' | 'CertificateChanged' | 'AuthFailed' | 'Refused' | 'Failed';
  message: string;
  notice?: { reason: Reason; severity: Notice['severity'] };
  presented?: PresentedLeaf;
  bytes?: number;
  items?: number;
  generation?: number;
}

const OK = new Set<Attempt['result']>(['Applied', 'Unchanged']);

/** Whether the target is to be looked at now: a change, its interval, or its retry after a failure. */
function due(record: Target, hash: string, now: number): boolean {
  const last = Date.parse(String(record.status.lastSyncTime ?? ''));
  if (Number.isNaN(last)) return true;
  const interval = parseDuration(record.spec.syncInterval);
  const failures = Number(record.status.consecutiveFailures ?? 0);
  if (OK.has(record.status.lastSyncResult as Attempt['result'])) return hash !== record.status.sentSha256 || now >= last + interval;
  // A pin committed since it was dropped (or since the target was untrusted) is tried at once.
  const pin = record.spec.trust.certificateSha256;
  if (pin && normalFingerprint(pin) !== record.status.droppedCertificateSha256 && record.status.lastSyncResult !== 'Failed') return true;
  return now >= last + Math.min(interval, RETRY_MS * 2 ** Math.max(0, failures - 1));
}

export async function syncCoreTarget(ctx: ProviderContext, secrets: SecretResolver, record: Target, options: SyncOptions): Promise<SyncReport> {
  const spec = record.spec;
  const now = options.now?.getTime() ?? Date.now();
  const idle: SyncReport = { userCount: 0, added: 0, updated: 0, removed: 0, warnings: [], idle: true };
  if (!spec.syncEnabled) return idle;
  const records = await ctx.store.listRecords({ tenant: record.tenant });
  const hash = contentHash(records);
  if (!options.force && !due(record, hash, now)) return idle;

  const content = await contentGeneration(ctx, record, hash);
  const attempt = await send(ctx, secrets, record, records, hash, content.generation);
  const at = new Date(now).toISOString();
  const ok = OK.has(attempt.result);
  const failures = ok ? 0 : Number(record.status.consecutiveFailures ?? 0) + (attempt.result === 'Failed' || attempt.result === 'AuthFailed' || attempt.result === 'Refused' ? 1 : 0);
  const pin = spec.trust.certificateSha256 && normalFingerprint(spec.trust.certificateSha256);
  const status: Record<string, unknown> = {
    ...record.status,
    lastSyncTime: at,
    lastSyncResult: attempt.result,
    lastError: ok ? undefined : attempt.message,
    consecutiveFailures: failures,
    ...(attempt.presented ? { presentedCertificateSha256: attempt.presented.sha256, presentedCertificate: leafFields(attempt.presented) } : {}),
    ...(attempt.result === 'CertificateChanged' ? { droppedCertificateSha256: pin, trusted: false } : {}),
    ...(ok ? { trusted: true, sentSha256: hash, generation: attempt.generation } : {}),
    ...(attempt.result === 'Untrusted' ? { trusted: false } : {}),
  };
  const notices: (Notice & { reason: Reason })[] = attempt.notice ? [{ ...attempt.notice, message: attempt.message }] : [];
  if (failures >= FAILURES_BEFORE_NOTICE) notices.push({ reason: 'CoreSyncFailing', severity: 'Error', message: `${failures} syncs in a row failed; the last: ${attempt.message}` });
  const ready = { status: ok, reason: ok ? 'Synced' : attempt.result, message: attempt.message };
  const detail = { result: attempt.result, generation: attempt.generation ?? null, items: attempt.items ?? null, bytes: attempt.bytes ?? 0, certificateSha256: attempt.presented?.sha256 ?? null, message: attempt.message };
  const writes = [...syncWrites(record, { status, ready, notices, reasons: CORE_REASONS, at, actor: options.actor, action: 'core-sync', detail }), ...(content.write ? [content.write] : [])];
  await ctx.store.commit(writes);
  return {
    userCount: 0,
    added: 0,
    updated: 0,
    removed: 0,
    warnings: [],
    summary: `${attempt.result}: ${attempt.message}`,
    ...(ok ? {} : { error: attempt.message }),
  };
}

const leafFields = (p: PresentedLeaf) => ({ subject: p.subject, issuer: p.issuer, validFrom: p.validFrom, validTo: p.validTo });

/** The tenant's content generations, as {generation, sha256} of the newest content. */
const generationKey = (tenant: string) => `core-sync-generation/${tenant}`;

/**
 * The generation of the tenant's content: one more than the last with each new content. It belongs
 * to the tenant, not to a target (a receiver refuses a generation older than one it applied): a
 * target deleted and made again goes on from where the tenant is, not from 1.
 */
async function contentGeneration(ctx: ProviderContext, record: Target, hash: string): Promise<{ generation: number; write?: Write }> {
  const text = await ctx.store.getMeta(generationKey(record.tenant));
  const held = text ? (JSON.parse(text) as { generation: number; sha256: string }) : undefined;
  if (held?.sha256 === hash) return { generation: held.generation };
  const generation = Math.max(held?.generation ?? 0, Number(record.status.generation ?? 0)) + 1;
  return { generation, write: { op: 'setMeta', key: generationKey(record.tenant), value: JSON.stringify({ generation, sha256: hash }) } };
}

/** One attempt: the check, then the bundle if the target lacks it. */
async function send(ctx: ProviderContext, secrets: SecretResolver, record: Target, records: StoredRecord[], hash: string, generation: number): Promise<Attempt> {
  const spec = record.spec;
  const host = spec.fqdn.replace(/\.$/, '');
  const where = `${host}:${spec.port}`;
  const pin = spec.trust.certificateSha256 && normalFingerprint(spec.trust.certificateSha256);
  if (!pin) {
    try {
      const presented = await presentedLeaf(host, spec.port, ctx.outbound);
      return { result: 'Untrusted', presented, notice: { reason: 'CoreNotTrusted', severity: 'Warning' }, message: `core server ${where} is not trusted: nothing is sent; review the certificate it presents (SHA-256 ${presented.sha256}, ${presented.subject}) and commit it as spec.trust.certificateSha256 (mdmops core-sync trust ${record.kind}/${record.name})` };
    } catch (e) {
      return { result: 'Failed', message: `core server ${where} cannot be reached: ${messageOf(e)}` };
    }
  }
  if (pin === record.status.droppedCertificateSha256) {
    return { result: 'Blocked', notice: { reason: 'CoreCertificateChanged', severity: 'Error' }, message: `sync with ${where} is blocked: it presented another certificate than the pinned ${pin}, which was dropped; review the one it presents now and commit a new pin` };
  }
  const password = await secrets.resolve(record.tenant, spec.credentials.passwordSecretRef);
  if (password === undefined) return { result: 'Failed', message: `the account's password is missing: ${secrets.where(record.tenant, spec.credentials.passwordSecretRef)}` };
  let clientCertificate: { cert: string; key: string } | undefined;
  if (spec.clientCertificate) {
    const cert = await secrets.resolve(record.tenant, spec.clientCertificate.certificateSecretRef);
    const key = await secrets.resolve(record.tenant, spec.clientCertificate.privateKeySecretRef);
    if (cert === undefined || key === undefined) return { result: 'Failed', message: 'the client certificate or its key is missing from its secret' };
    clientCertificate = { cert, key };
  }
  const core = ctx.coreName ?? (await fullyQualifiedHostName());
  const headers = { authorization: `Basic ${Buffer.from(`${spec.credentials.username}:${password}`).toString('base64')}`, 'x-mdmops-core': core };
  const request = (path: string, body: Buffer, type: string) =>
    pinnedRequest({ host, port: spec.port, pinSha256: pin, method: 'POST', path, headers: { ...headers, 'content-type': type }, body, policy: ctx.outbound, clientCertificate });
  let checked = false;
  try {
    const checkBody = Buffer.from(JSON.stringify({ core, tenant: record.tenant, generation, sha256: hash }));
    const check = await request(CORE_SYNC_PATH.check, checkBody, 'application/json');
    checked = true;
    const refused = answerProblem(check.status, check.body, where);
    if (refused) return { ...refused, presented: check.presented, generation };
    if ((JSON.parse(check.body) as { sha256?: string }).sha256 === hash) {
      return { result: 'Unchanged', presented: check.presented, generation, bytes: checkBody.length, message: `${where} holds generation ${generation} already` };
    }
    const { body, bundle, left } = await buildBundle(ctx, records, { core, tenant: record.tenant, generation, sha256: hash });
    const sent = await request(CORE_SYNC_PATH.bundles, body, 'application/gzip');
    const problem = answerProblem(sent.status, sent.body, where);
    if (problem) return { ...problem, presented: sent.presented, generation, bytes: body.length + checkBody.length, items: bundle.items.length };
    const answer = JSON.parse(sent.body) as { result?: string; kept?: string[]; failed?: string[] };
    if (answer.result === 'partial') {
      const failed = answer.failed ?? [];
      return { result: 'Failed', presented: sent.presented, generation, bytes: body.length + checkBody.length, items: bundle.items.length, message: `${where} applied generation ${generation} only in part (it will be sent again): ${failed.slice(0, 5).join('; ')}${failed.length > 5 ? `; and ${failed.length - 5} more` : ''}` };
    }
    const notes = [...left, ...(answer.kept ?? []).map((k) => `${k} is kept as the target's own`)];
    return { result: 'Applied', presented: sent.presented, generation, bytes: body.length + checkBody.length, items: bundle.items.length, message: `${where} applied generation ${generation} (${bundle.items.length} items)${notes.length ? `; ${notes.join('; ')}` : ''}` };
  } catch (e) {
    if (e instanceof PinMismatch) {
      return { result: 'CertificateChanged', presented: e.presented, notice: { reason: 'CoreCertificateChanged', severity: 'Error' }, message: `${where} presented a certificate with SHA-256 ${e.presented.sha256}, not the pinned ${pin}: nothing was sent, the pin is dropped and sync is blocked until a new pin is reviewed and committed` };
    }
    if (e instanceof ClientCertificateRefused) return { result: 'AuthFailed', presented: e.presented, notice: { reason: 'CoreSyncAuthFailed', severity: 'Error' }, message: clientCertificateRefusal(where, e, clientCertificate) };
    // A Node.js target refuses a client certificate of a CA it does not trust with no TLS alert: it
    // closes the connection once the handshake is done, before reading the request.
    if (clientCertificate && !checked && (e as NodeJS.ErrnoException).code === 'ECONNRESET') {
      return { result: 'AuthFailed', notice: { reason: 'CoreSyncAuthFailed', severity: 'Error' }, message: clientCertificateRefusal(where, undefined, clientCertificate) };
    }
    return { result: 'Failed', message: `core server ${where}: ${messageOf(e)}` };
  }
}

/** What the target's refusal of the client certificate (or of its absence) means, in words. */
function clientCertificateRefusal(where: string, e: ClientCertificateRefused | undefined, sent: { cert: string } | undefined): string {
  if (e && !e.sent) return `${where} refused the connection: it requires a client certificate (TLS alert "${e.alert}"), and this target has no spec.clientCertificate; nothing was sent`;
  let which = '';
  try {
    const c = new X509Certificate(sent!.cert);
    which = ` (${c.subject.replaceAll('\n', ', ')}, issued by ${c.issuer.replaceAll('\n', ', ')}, valid to ${new Date(c.validTo).toISOString()})`;
  } catch {
    // not PEM: the TLS library would have refused it before the handshake; said without its names
  }
  const how = e ? `TLS alert "${e.alert}"` : 'it closed the connection right after the TLS handshake, without an answer';
  return `${where} refused the client certificate${which}: ${how}; it takes only certificates of the CA it trusts for core sync (--core-sync-client-ca there); nothing was sent`;
}

/** What a refusal of the target says, or undefined for a 200. */
function answerProblem(status: number, body: string, where: string): Attempt | undefined {
  if (status === 200) return undefined;
  let said = body.slice(0, 2000);
  try {
    said = (JSON.parse(body) as { error?: string }).error ?? said;
  } catch {
    // not JSON: shown as it came
  }
  if (status === 401 || status === 403) return { result: 'AuthFailed', notice: { reason: 'CoreSyncAuthFailed', severity: 'Error' }, message: `${where} refused the account (${status}): ${said}` };
  if (status === 409 || status === 422) return { result: 'Refused', notice: { reason: 'CoreSyncRefused', severity: 'Error' }, message: `${where} refused the bundle: ${said}` };
  return { result: 'Failed', message: `${where} answered ${status}: ${said}` };
}
