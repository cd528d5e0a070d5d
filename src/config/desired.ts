// The desired state of one resource, as the engine compares and applies it.
import { basename } from 'node:path';
import { FILE_EXTENSION, POLICY_FIELDS, type FileField, type Reference } from '../api/index.js';
import type { ContentChecker } from './content.js';
import { fieldPath } from './diagnostics.js';
import type { ValidResource } from './source.js';
import type { MasterKey } from '../store/master-key.js';
import type { RecordMetadata, ResourceId, StoredRecord } from '../store/types.js';
import { canonical, canonicalFields, sha256 } from '../util/canonical.js';
import type { SecretRef, SecretResolver } from './secrets.js';

export interface Desired {
  id: ResourceId;
  key: string;
  spec: Record<string, unknown>;
  references: Reference[];
  /** Referenced file contents by field path (e.g. spec.uploaded.certificate). */
  files: Record<string, { digest: string; bytes: Buffer; field: FileField; name: string }>;
  /** Secret values by field path; value undefined when not found. */
  secrets: Record<string, { ref: SecretRef; digest: string | null; value?: string }>;
  /** Of the spec without policy settings (see tenantSpecHash). */
  specHash: string;
  /** Spec (file contents by digest) and secret values together: unchanged input means nothing to do. */
  desiredHash: string;
  /** Where it was declared, for messages. */
  origin?: { file: string; line: number };
  /** Its labels and annotations, when it has any. */
  metadata?: RecordMetadata;
}

export const idKey = (id: ResourceId) => `${id.kind}/${id.tenant}/${id.name}`;

/** Every secretRef in a spec, by dotted path: fields named *SecretRef holding { name, key }. */
export function secretRefs(spec: unknown, path = 'spec', found: [string, SecretRef][] = []): [string, SecretRef][] {
  // Into one list, not a list per level: a plan looks through ten thousand specs.
  if (typeof spec !== 'object' || spec === null) return found;
  if (Array.isArray(spec)) {
    for (let i = 0; i < spec.length; i++) secretRefs(spec[i], `${path}[${i}]`, found);
    return found;
  }
  for (const [k, v] of Object.entries(spec)) {
    if (k.endsWith('SecretRef') && typeof v === 'object' && v !== null && 'name' in v && 'key' in v) found.push([`${path}.${k}`, v as SecretRef]);
    else secretRefs(v, `${path}.${k}`, found);
  }
  return found;
}

/** The spec without mdmops' own settings (suspend, policies): what drift is judged on. */
export function tenantSpecHash(spec: Record<string, unknown>): string {
  return sha256(specTexts(spec).tenant);
}

/** The canonical text of a spec, whole and without policy settings: each field's text is made once for both. */
function specTexts(spec: Record<string, unknown>): { whole: string; tenant: string } {
  const fields = canonicalFields(spec);
  const join = (list: [string, string][]) => `{${list.map(([, text]) => text).join(',')}}`;
  return { whole: join(fields), tenant: join(fields.filter(([key]) => !(POLICY_FIELDS as readonly string[]).includes(key))) };
}

/** The spec with another's policy settings. */
export function withPolicies(spec: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  const out = { ...spec };
  for (const f of POLICY_FIELDS) if (from[f] !== undefined) out[f] = from[f];
  return out;
}

export const policiesDiffer = (a: Record<string, unknown>, b: Record<string, unknown>) => POLICY_FIELDS.some((f) => a[f] !== b[f]);

export async function desiredOf(
  v: ValidResource,
  content: ContentChecker,
  resolver: SecretResolver,
  key: MasterKey,
  origin?: { file: string; line: number },
): Promise<Desired> {
  const { resource, def } = v;
  const id = { tenant: resource.metadata.namespace ?? 'default', kind: resource.kind, name: resource.metadata.name };
  // The tenant holds a file's content, not where it was read from: the spec names it by digest,
  // so moving a file (or exporting it elsewhere) is no change, and editing it is one.
  // A copy to rewrite file fields in, when there are any. A validated spec is JSON data: parsed back
  // from JSON, it takes half the memory of a structuredClone (a plan holds ten thousand).
  const fileFields = def.files?.(resource.spec) ?? [];
  const spec = fileFields.length ? (JSON.parse(JSON.stringify(resource.spec)) as Record<string, unknown>) : resource.spec;
  const files: Desired['files'] = {};
  for (const field of fileFields) {
    const bytes = content.bytes(v, field);
    if (typeof bytes === 'string') throw new Error(bytes); // validation read it; a file gone since is an error
    const digest = sha256(bytes);
    files[fieldPath(field.path)] = { digest, bytes, field, name: fileName(field) };
    setAt(spec, field.path.slice(1), { sha256: digest });
  }
  const secrets: Desired['secrets'] = {};
  for (const [path, ref] of secretRefs(spec)) {
    const value = await resolver.resolve(id.tenant, ref);
    secrets[path] = { ref, value, digest: value === undefined ? null : key.digest(value) };
  }
  const metadata = declaredMetadata(resource.metadata);
  const texts = specTexts(spec);
  return {
    id,
    key: idKey(id),
    spec,
    references: def.references(resource.spec),
    files,
    secrets,
    specHash: sha256(texts.tenant),
    // canonical({ spec, secrets, metadata }), with the spec's text made above. Metadata counts only
    // when there is some: records made before it was kept are up to date.
    desiredHash: sha256(`{${metadata ? `"metadata":${canonical(metadata)},` : ''}"secrets":${canonical(digests(secrets))},"spec":${texts.whole}}`),
    origin,
    ...(metadata ? { metadata } : {}),
  };
}

/**
 * Labels and annotations as the administrator declared them. kubectl's own annotations
 * (kubectl.kubernetes.io/last-applied-configuration: the whole object again) are its bookkeeping.
 */
function declaredMetadata(metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }): RecordMetadata | undefined {
  const labels = metadata.labels && Object.keys(metadata.labels).length ? metadata.labels : undefined;
  const kept = Object.entries(metadata.annotations ?? {}).filter(([k]) => !k.startsWith('kubectl.kubernetes.io/'));
  const annotations = kept.length ? Object.fromEntries(kept) : undefined;
  return labels || annotations ? { ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) } : undefined;
}

/** The declared file's own name, or one that says what inline data holds. */
function fileName(field: FileField): string {
  if (field.source.file) return basename(field.source.file);
  return `${String(field.path[field.path.length - 1])}.${FILE_EXTENSION[field.content]}`;
}

function setAt(target: Record<string, unknown>, path: (string | number)[], value: unknown) {
  let at = target as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) at = at[p] as Record<string | number, unknown>;
  at[path[path.length - 1]!] = value;
}

/** The record a desired resource becomes once applied: the one place a stored record is made from one. */
export function recordOf(d: Desired, applied: { generation: number; status: Record<string, unknown>; updatedAt: string }): StoredRecord {
  return {
    ...d.id,
    spec: d.spec,
    specHash: d.specHash,
    desiredHash: d.desiredHash,
    files: Object.fromEntries(Object.entries(d.files).map(([path, f]) => [path, { name: f.name }])),
    secrets: digests(d.secrets),
    managed: true,
    ...applied,
    ...(d.metadata ? { metadata: d.metadata } : {}),
  };
}

export function digests<T extends { digest: string | null }>(m: Record<string, T>): Record<string, T['digest']> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v.digest]));
}

/** Rewrites the { sha256 } file references a stored spec holds (for export, or to check an edited spec). */
export function mapFileRefs(spec: unknown, fn: (path: string, digest: string) => unknown, path = 'spec'): unknown {
  if (typeof spec !== 'object' || spec === null) return spec;
  if (Array.isArray(spec)) return spec.map((v, i) => mapFileRefs(v, fn, `${path}[${i}]`));
  const keys = Object.keys(spec);
  if (keys.length === 1 && keys[0] === 'sha256' && typeof (spec as { sha256: unknown }).sha256 === 'string') return fn(path, (spec as { sha256: string }).sha256);
  return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, mapFileRefs(v, fn, `${path}.${k}`)]));
}
