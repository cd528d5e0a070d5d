// Identity certificates: one per user the configuration reaches, from its CA, with the subject and
// SAN templates expanded for that user. Issued when missing, renewed before expiry, issued again
// when what it says (or the CA) changes, removed when the user is no longer reached.
import { createHash, X509Certificate } from 'node:crypto';
import { firstTrigger, IDENTITY_CERTIFICATE_POLICIES, type RenewalInput } from '../../pki/renewal.js';
import { sha256 } from '../../util/canonical.js';
import { blobAad } from '../../engine/context.js';
import type { Desired } from '../../config/desired.js';
import type { ProviderContext } from '../../engine/provider.js';
import { OID, type San } from '../../pki/certificate.js';
import { encodeName, escapeDnValue, parseDn } from '../../pki/name.js';
import type { IssuedCertificate, StoredRecord, Write } from '../../store/types.js';
import { openIssuer, type IssueProfile, type IssueRequest, type Issued } from '../certificate-authority/index.js';
import { recordsOf, type Made, type SpecOf, type WithSpec } from '../record.js';
import { ambiguousGroups, reachedUsers } from './distribution.js';
import { compile, expand } from './template.js';
import { Space, type CertificateConfiguration, type CertificateFacts, type DirectoryUser } from '../../api/index.js';
import { messageOf } from '../../util/message-of.js';

type Configuration = SpecOf<typeof CertificateConfiguration>;
type ConfigurationDesired = WithSpec<Desired, Configuration>;
/** The identity certificate template of a configuration. */
export type IdentitySpec = NonNullable<Configuration['identity']>;

export interface Target {
  user: DirectoryUser;
  /** The subject as requested, RFC 4514 (checked to parse). */
  subject: string;
  subjectAltNames: San[];
  contentHash: string;
}

const MAX_PROBLEMS = 10;

export function extendedKeyUsages(u: IdentitySpec['usages']): string[] {
  return [
    ...(u.clientAuthentication ? [OID.clientAuth] : []),
    ...(u.ipsec ? [OID.ipsecEndSystem, OID.ipsecUser, OID.ipsecIke] : []),
    ...(u.smartCardLogon ? [OID.smartCardLogon] : []),
    ...(u.customOids ?? []),
  ];
}

const profileOf = (id: IdentitySpec): IssueProfile => ({ keyAlgorithm: id.keyAlgorithm, validity: id.validity, extendedKeyUsage: extendedKeyUsages(id.usages) });

/**
 * What the content hash of an identity certificate covers, as canonical JSON:
 * canonical({ subject, subjectAltNames, eku, keyAlgorithm, validity }), written out for speed (every
 * plan hashes every reached user). The text must not change: a new hash issues every certificate again.
 */
export function contentText(id: { keyAlgorithm: string; validity: string }, eku: string[], subject: string, subjectAltNames: San[]): string {
  const q = JSON.stringify;
  const sans = subjectAltNames.map((s) => `{"type":${q(s.type)},"value":${q(s.value)}}`).join(',');
  return `{"eku":[${eku.map((e) => q(e)).join(',')}],"keyAlgorithm":${q(id.keyAlgorithm)},"subject":${q(subject)},"subjectAltNames":[${sans}],"validity":${q(id.validity)}}`;
}

/** What the CA is asked for a target. Every plan surveys every user and few are issued: a subject is parsed again and encoded only when issued. */
const requestOf = (t: Target): IssueRequest => ({
  get subject() {
    return encodeName(parseDn(t.subject));
  },
  subjectAltNames: t.subjectAltNames,
});

/** What each reached user's certificate must say, or why it cannot be issued. Pure. */
export function targetsFor(id: IdentitySpec, users: DirectoryUser[]): { targets: Target[]; problems: string[] } {
  const targets: Target[] = [];
  const problems: string[] = [];
  const eku = profileOf(id).extendedKeyUsage;
  const subjectTemplate = compile(id.subject);
  const sanTemplates = (id.subjectAltNames ?? []).map((s) => ({ type: s.type, parts: compile(s.value) }));
  for (const user of users) {
    const subject = expand(subjectTemplate, user, escapeDnValue);
    const sans = sanTemplates.map((s) => ({ type: s.type, e: expand(s.parts, user) }));
    if ('missing' in subject || sans.some((s) => 'missing' in s.e)) {
      const missing = [subject, ...sans.map((s) => s.e)].flatMap((e) => ('missing' in e ? e.missing : []));
      problems.push(`${user.upn} has no ${[...new Set(missing)].map((m) => '${' + m + '}').join(', ')}: no certificate issued`);
      continue;
    }
    try {
      parseDn(subject.value);
    } catch (e) {
      problems.push(`${user.upn}: subject "${subject.value}": ${messageOf(e)}`);
      continue;
    }
    const subjectAltNames = sans.flatMap((s) => ('value' in s.e ? [{ type: s.type, value: s.e.value }] : []));
    targets.push({ user, subject: subject.value, subjectAltNames, contentHash: sha256(contentText(id, eku, subject.value, subjectAltNames)) });
  }
  return { targets, problems };
}

export interface Work {
  issue: Target[];
  renew: Target[];
  reissue: Target[];
  remove: CertificateFacts[];
}

/** Which list a user's certificate goes to, by the renewal policy that fired (pki/renewal.ts). */
const WORK_OF: Record<string, 'issue' | 'reissue' | 'renew'> = { DoesNotExist: 'issue', ContentChanged: 'reissue', IssuerChanged: 'reissue', Expiring: 'renew' };

/** What to do for each user, given the certificates already issued: the identity certificate policies, asked of each. Pure. */
export function decideWork(targets: Target[], reached: Set<string>, existing: CertificateFacts[], issuer: { key: string; notAfter?: number } | undefined, renewBefore: string, now: number): Work {
  const byUser = new Map(existing.map((c) => [c.userId, c]));
  const work: Work = { issue: [], renew: [], reissue: [], remove: existing.filter((c) => !reached.has(c.userId)) };
  if (!issuer) return work;
  for (const t of targets) {
    const c = byUser.get(t.user.id);
    const input: RenewalInput = {
      now,
      held: c && { notBefore: Date.parse(c.notBefore), notAfter: Date.parse(c.notAfter) },
      contentChanged: c !== undefined && c.contentHash !== t.contentHash,
      issuerChanged: c !== undefined && c.issuerKey !== issuer.key,
      renewBefore,
      issuerNotAfter: issuer.notAfter,
    };
    const fired = firstTrigger(IDENTITY_CERTIFICATE_POLICIES, input);
    if (fired) work[WORK_OF[fired.reason]!].push(t);
  }
  return work;
}

export function describeWork(w: Work): string[] {
  const n = (k: number, verb: string, why = '') => (k ? [`${verb} ${k} identity certificate${k === 1 ? '' : 's'}${why}`] : []);
  return [...n(w.issue.length, 'issue'), ...n(w.renew.length, 'renew'), ...n(w.reissue.length, 'issue again', ' (template, user or CA changed)'), ...n(w.remove.length, 'remove', ' (users no longer reached)')];
}

async function survey(ctx: ProviderContext, d: ConfigurationDesired, id: IdentitySpec) {
  const tenant = d.id.tenant;
  const [users, existing, issuer] = await Promise.all([
    ctx.store.listUsers(tenant),
    ctx.store.listCertificateFacts({ tenant, configuration: d.id.name }),
    openIssuer(ctx, tenant, id.certificateAuthorityRef.name),
  ]);
  // Every plan surveys every configuration: the spaces are read only when there are users to place in them.
  const spaces = users.length ? await recordsOf(ctx, Space, tenant) : [];
  const placed = spaces.map((s) => ({ name: s.name, priority: s.spec.priority, members: s.spec.members }));
  const reached = reachedUsers(d.spec, users, placed);
  const { targets, problems } = targetsFor(id, reached);
  const named = [...(d.spec.distribution.selector?.groups ?? []), ...placed.flatMap((s) => s.members.groups ?? [])];
  const ambiguous = ambiguousGroups(named, users);
  const work = decideWork(targets, new Set(reached.map((u) => u.id)), existing, 'waiting' in issuer ? undefined : issuer, id.renewBefore, Date.now());
  return { id, reached, targets, problems, ambiguous, existing, issuer, work };
}

export async function identityPending(ctx: ProviderContext, d: ConfigurationDesired, id: IdentitySpec): Promise<string[]> {
  return describeWork((await survey(ctx, d, id)).work);
}

export async function identityReconcile(ctx: ProviderContext, d: ConfigurationDesired, id: IdentitySpec): Promise<Made> {
  const { reached, problems, ambiguous, existing, issuer, work } = await survey(ctx, d, id);
  const writes: Write[] = work.remove.map((c) => ({ op: 'deleteCertificate', tenant: d.id.tenant, configuration: d.id.name, userId: c.userId }));
  if (!('waiting' in issuer)) {
    const failures: string[] = [];
    const targets = [...work.issue, ...work.renew, ...work.reissue];
    let done = 0;
    await issuer.issueAll(
      profileOf(id),
      targets.map(requestOf),
      (i, issued) => {
        const t = targets[i]!;
        ctx.progress?.(++done, targets.length, 'identity certificates');
        // A certificate that cannot be recorded (a server's answer that does not parse) fails its user alone.
        try {
          if (issued instanceof Error) throw issued;
          writes.push({ op: 'putCertificate', certificate: recordOf(ctx, d, t, issuer.key, issued) });
        } catch (e) {
          failures.push(`${t.user.upn}: ${messageOf(e)}`);
        }
      },
    );
    problems.unshift(...failures.sort());
  }
  const current = new Set([...existing.map((c) => c.userId), ...writes.flatMap((w) => (w.op === 'putCertificate' ? [w.certificate.userId] : []))]);
  for (const c of work.remove) current.delete(c.userId);
  return {
    writes,
    status: {
      reachedCount: reached.length,
      issuedCount: current.size,
      waitingCount: reached.filter((u) => !current.has(u.id)).length,
      problems: problems.length ? problems.slice(0, MAX_PROBLEMS) : undefined,
      ambiguousGroups: ambiguous.length ? ambiguous : undefined,
    },
  };
}

function recordOf(ctx: ProviderContext, d: Desired, t: Target, issuerKey: string, { certificate, chain, pkcs8, facts }: Issued): IssuedCertificate {
  const x = facts ? undefined : new X509Certificate(certificate);
  return {
    tenant: d.id.tenant,
    configuration: d.id.name,
    userId: t.user.id,
    serial: facts?.serial ?? x!.serialNumber,
    subject: t.subject,
    notBefore: facts?.notBefore ?? new Date(x!.validFrom).toISOString(),
    notAfter: facts?.notAfter ?? new Date(x!.validTo).toISOString(),
    fingerprintSha256: createHash('sha256').update(certificate).digest('hex'),
    contentHash: t.contentHash,
    issuerKey,
    certificate,
    ...(chain ? { chain } : {}),
    sealedKey: ctx.key.seal(pkcs8, certificateKeyAad(d.id, t.user.id)),
    issuedAt: new Date().toISOString(),
  };
}

/** Each user's key is bound to its configuration and user: a moved key does not open. */
export const certificateKeyAad = (id: Desired['id'], userId: string) => blobAad(id, `certificate:${userId}`);

export const removeAll = (record: StoredRecord): Write[] => [{ op: 'deleteCertificates', tenant: record.tenant, configuration: record.name }];
