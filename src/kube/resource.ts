// A custom resource as the engine's validation sees it: the same schema, reference and content
// checks as a YAML file, with two differences. A custom resource has no folder, so file fields
// cannot name a file (their content goes inline in data:); and references resolve against the
// other custom resources of the namespace, which the informers hold.
import { API_VERSION, displayName, resourceSchemaOf, type KindDefinition, type Reference, type Resource, type RuleViolation } from '../api/index.js';
import { ContentChecker } from '../config/content.js';
import { fieldPath, type Diagnostic } from '../config/diagnostics.js';
import { DEFAULT_LIMITS } from '../config/limits.js';
import { loadSources } from '../config/load.js';
import { checkSchema } from '../config/schema-check.js';
import type { ValidResource } from '../config/source.js';
import { dotted } from '../engine/desired.js';
import type { KubeObject } from './client.js';

/** No folder: nothing is read from disk on a custom resource's behalf. */
const NOWHERE = '/nonexistent/mdmops-custom-resource';

export type Checked =
  | { valid: ValidResource; content: ContentChecker }
  | { reason: 'Invalid' | 'ReferenceNotFound'; message: string };

/** The custom resource as a document of the configuration: what a YAML file would hold. */
function documentOf(obj: KubeObject, kind: string) {
  const { name, namespace, labels, annotations } = obj.metadata;
  return { apiVersion: API_VERSION, kind, metadata: { name, namespace, ...(labels ? { labels } : {}), ...(annotations ? { annotations } : {}) }, spec: obj.spec ?? {} };
}

/** A custom resource as its kind's schema reads it (defaults applied), or undefined when it is invalid. */
export function parseCustomResource(obj: KubeObject, kind: string): Resource | undefined {
  const parsed = resourceSchemaOf(kind)?.safeParse(documentOf(obj, kind));
  return parsed?.success ? (parsed.data as Resource) : undefined;
}

const describe = (d: Diagnostic) => `${d.field ? `${d.field}: ` : ''}${d.message}${d.hint ? ` (${d.hint})` : ''}`;

/**
 * `broken` gives the tenant rules (one identity provider per tenant, ...) the resource breaks with
 * the others of its namespace.
 */
export function checkCustomResource(obj: KubeObject, def: KindDefinition, exists: (ref: Reference) => boolean, broken: () => Omit<RuleViolation, 'resource'>[] = () => []): Checked {
  const { name, namespace } = obj.metadata;
  const doc = documentOf(obj, def.kind);
  const file = displayName(def.kind, name, namespace ?? 'default');
  const loaded = loadSources([{ file, baseDir: NOWHERE, root: NOWHERE, bytes: Buffer.from(JSON.stringify(doc)) }], DEFAULT_LIMITS);
  const src = loaded.resources[0];
  if (loaded.diagnostics.length || !src) return { reason: 'Invalid', message: loaded.diagnostics.map(describe).join('; ') || 'not a resource' };
  const schema = checkSchema(src);
  if (!schema.resource) return { reason: 'Invalid', message: schema.diagnostics.map(describe).join('; ') };
  const valid: ValidResource = { resource: schema.resource, def, source: src };

  const named = (def.files?.(schema.resource.spec) ?? []).filter((f) => f.source.file !== undefined);
  if (named.length) {
    return {
      reason: 'Invalid',
      message: named.map((f) => `${dotted(f.path)}.file: a custom resource cannot name a file ("${f.source.file}"); put the content inline in ${dotted(f.path)}.data`).join('; '),
    };
  }
  const rules = broken();
  if (rules.length) return { reason: 'Invalid', message: rules.map((v) => `${fieldPath(v.path)}: ${v.message}${v.hint ? ` (${v.hint})` : ''}`).join('; ') };

  const content = new ContentChecker(DEFAULT_LIMITS);
  const problems = content.check(valid);
  if (problems.length) return { reason: 'Invalid', message: problems.map(describe).join('; ') };

  const missing = def.references(schema.resource.spec).filter((r) => !exists(r));
  if (missing.length) {
    return { reason: 'ReferenceNotFound', message: missing.map((r) => `${dotted(r.path)}: ${r.kind} "${r.name}" not found in namespace "${namespace}"`).join('; ') };
  }
  return { valid, content };
}
