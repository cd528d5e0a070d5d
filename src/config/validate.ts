// Validation of a whole configuration: schema, references, tenant rules and referenced files.
// Everything is checked before anything is used, and every problem is reported at once.
import { Document, LineCounter, type Node } from 'yaml';
import { DEFAULT_NAMESPACE, kindNamed, tenantRules, type KindDefinition, type Resource } from '../api/index.js';
import { ContentChecker } from './content.js';
import { fieldPath, sortDiagnostics, type Diagnostic } from './diagnostics.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { expandPaths, loadSources, loadValues, readSources, type Loaded, type TextSource } from './load.js';
import { diagnosticAt } from './positions.js';
import { checkReferences } from './references.js';
import { checkSchema } from './schema-check.js';
import { released, type LoadedResource, type ValidResource } from './source.js';

export interface ValidationResult {
  /** The resources, with defaults applied; complete only when diagnostics is empty. */
  resources: ValidResource[];
  diagnostics: Diagnostic[];
  files: number;
  /** Reads what file fields hold, from the cache validation filled. */
  content: ContentChecker;
}

/** `label` names files in diagnostics, for a configuration read from somewhere other than where it is kept. */
export function validatePaths(paths: string[], limits: Limits = DEFAULT_LIMITS, label?: (file: string) => string): ValidationResult {
  const expanded = expandPaths(paths);
  const read = readSources(expanded.files, limits, label);
  const result = validateSources(read.sources, limits);
  const pathProblems = label ? expanded.diagnostics.map((d) => ({ ...d, file: label(d.file) })) : expanded.diagnostics;
  return { ...result, diagnostics: sortDiagnostics([...pathProblems, ...read.diagnostics, ...result.diagnostics]) };
}

export function validateSources(sources: TextSource[], limits: Limits = DEFAULT_LIMITS): ValidationResult {
  return validateLoaded(loadSources(sources, limits), limits);
}

/** Resources that arrive parsed (a peer core's bundle), validated as a whole as files are; `file` names them in diagnostics. */
export function validateValues(file: string, values: unknown[], limits: Limits = DEFAULT_LIMITS): ValidationResult {
  return validateLoaded(loadValues({ file, baseDir: NOWHERE, root: NOWHERE }, values, limits), limits);
}

function validateLoaded(loaded: Loaded, limits: Limits): ValidationResult {
  const diagnostics = [...loaded.diagnostics];

  const valid: ValidResource<LoadedResource>[] = [];
  for (const source of loaded.resources) {
    const checked = checkSchema(source);
    diagnostics.push(...checked.diagnostics);
    if (checked.resource) valid.push({ resource: checked.resource, def: kindNamed(source.kind)!, source });
  }

  diagnostics.push(...checkReferences(valid, loaded.resources));

  const sourceOf = new Map<Resource<unknown>, ValidResource<LoadedResource>>(valid.map((v) => [v.resource, v]));
  const tenants = new Map<string, ValidResource<LoadedResource>[]>();
  for (const v of valid) {
    const ns = v.resource.metadata.namespace;
    if (!tenants.has(ns)) tenants.set(ns, []);
    tenants.get(ns)!.push(v);
  }
  for (const members of tenants.values()) {
    for (const violation of tenantRules(members.map((v) => v.resource))) {
      diagnostics.push(diagnosticAt(sourceOf.get(violation.resource)!.source, violation.message, { path: violation.path, hint: violation.hint, code: 'rule' }));
    }
  }

  const content = new ContentChecker(limits);
  for (const v of valid) diagnostics.push(...content.check(v));

  // Nothing to report: the YAML nodes kept to place diagnostics go (they weigh more than the resources).
  return { resources: diagnostics.length ? valid : valid.map(released), diagnostics: sortDiagnostics(diagnostics), files: loaded.files, content };
}

/** No folder: nothing is read from disk on an object's behalf. */
const NOWHERE = '/nonexistent/mdmops-object';

/**
 * One object that did not come from a file (a Kubernetes custom resource), validated as the object
 * it is: its schema, and the content of its file fields, which must be inline (it has no folder to
 * name a file in). `name` says which resource it is in diagnostics. References and tenant rules
 * are the caller's: they resolve against what the caller holds.
 */
export function validateObject(value: Record<string, unknown>, def: KindDefinition, name: string, limits: Limits = DEFAULT_LIMITS): { valid?: ValidResource; content: ContentChecker; diagnostics: Diagnostic[] } {
  const meta = (value.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  // The YAML nodes only place a diagnostic: made when one is, not for each of 1,000s of valid objects.
  let doc: Document.Parsed | undefined;
  const source: LoadedResource = {
    file: name,
    line: 1,
    baseDir: NOWHERE,
    root: NOWHERE,
    get doc() {
      return (doc ??= new Document(value) as unknown as Document.Parsed);
    },
    get node() {
      return this.doc.contents as Node;
    },
    lineCounter: new LineCounter(),
    value,
    kind: def.kind,
    name: typeof meta.name === 'string' ? meta.name : undefined,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : DEFAULT_NAMESPACE,
  };
  const content = new ContentChecker(limits);
  const checked = checkSchema(source);
  if (!checked.resource) return { content, diagnostics: checked.diagnostics };
  const named = (def.files?.(checked.resource.spec) ?? []).filter((f) => f.source.file !== undefined);
  const diagnostics = named.length
    ? named.map((f) => diagnosticAt(source, `a custom resource cannot name a file ("${f.source.file}"); put the content inline in ${fieldPath(f.path)}.data`, { path: [...f.path, 'file'], code: 'file' }))
    : content.check({ resource: checked.resource, def, source });
  return diagnostics.length ? { content, diagnostics } : { valid: released({ resource: checked.resource, def, source }), content, diagnostics };
}
