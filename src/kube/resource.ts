// A custom resource as the engine's validation sees it: the same schema, reference and content
// checks as a YAML file, on the object itself (config's validateObject), with two differences. A
// custom resource has no folder, so file fields cannot name a file (their content goes inline in
// data:); and references resolve against the other custom resources of the namespace, which the
// informers hold.
import { API_VERSION, displayName, resourceSchemaOf, type KindDefinition, type Reference, type Resource, type RuleViolation } from '../api/index.js';
import type { ContentChecker } from '../config/content.js';
import { fieldPath, type Diagnostic } from '../config/diagnostics.js';
import type { ValidResource } from '../config/source.js';
import { validateObject } from '../config/validate.js';
import type { KubeObject } from './client.js';

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

/** A diagnostic's message names its field already. */
const describe = (d: Diagnostic) => `${d.message}${d.hint ? ` (${d.hint})` : ''}`;

/**
 * `broken` gives the tenant rules (one identity provider per tenant, ...) the resource breaks with
 * the others of its namespace.
 */
export function checkCustomResource(obj: KubeObject, def: KindDefinition, exists: (ref: Reference) => boolean, broken: () => Omit<RuleViolation, 'resource'>[] = () => []): Checked {
  const { name, namespace } = obj.metadata;
  const checked = validateObject(documentOf(obj, def.kind), def, displayName(def.kind, name, namespace ?? 'default'));
  if (!checked.valid) return { reason: 'Invalid', message: checked.diagnostics.map(describe).join('; ') || 'not a resource' };
  const rules = broken();
  if (rules.length) return { reason: 'Invalid', message: rules.map((v) => `${fieldPath(v.path)}: ${v.message}${v.hint ? ` (${v.hint})` : ''}`).join('; ') };

  const missing = def.references(checked.valid.resource.spec).filter((r) => !exists(r));
  if (missing.length) {
    return { reason: 'ReferenceNotFound', message: missing.map((r) => `${fieldPath(r.path)}: ${r.kind} "${r.name}" not found in namespace "${namespace}"`).join('; ') };
  }
  return { valid: checked.valid, content: checked.content };
}
