// Layer 1: each resource against its kind's schema; zod issues become positioned diagnostics with hints.
import type { z } from 'zod';
import { resourceSchemaOf, type Path, type Resource } from '../api/index.js';
import type { Diagnostic } from './diagnostics.js';
import { diagnosticAt } from './positions.js';
import type { LoadedResource } from './source.js';
import { closest } from './suggest.js';

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

const SECRET_WORDS = /(secret|password|passwd|token|apikey|privatekey|challenge|hmac|credential)/i;
const SECRET_HINT = 'secrets never appear in YAML: give the name and key of a Kubernetes Secret (standalone: <secrets-dir>/<name>/<key>)';

export function checkSchema(src: LoadedResource): { resource?: Resource; diagnostics: Diagnostic[] } {
  const schema = resourceSchemaOf(src.kind)!;
  const result = schema.safeParse(src.value);
  if (result.success) return { resource: result.data as Resource, diagnostics: [] };
  return { diagnostics: result.error.issues.flatMap((issue) => toDiagnostics(src, schema, issue)) };
}

function toDiagnostics(src: LoadedResource, schema: AnySchema, issue: Issue): Diagnostic[] {
  const path = issue.path as Path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => unknownField(src, schema, path, key));
    case 'invalid_type': {
      const value = valueAt(src.value, path);
      const last = String(path.at(-1) ?? '');
      if (value === undefined) {
        return [diagnosticAt(src, `missing required field "${last}"`, { code: 'schema', ...parentPlace(path) })];
      }
      if (/SecretRef$/.test(last) && (typeof value !== 'object' || value === null)) {
        return [diagnosticAt(src, 'a secret value is written inline; secretRef takes the name and key of a Secret, never the value', {
          path, code: 'inline-secret', hint: `${last}: { name: <secret-name>, key: <key> }; ${SECRET_HINT}`,
        })];
      }
      return [diagnosticAt(src, `expected ${issue.expected}, got ${describe(value)}`, { path, code: 'schema' })];
    }
    case 'invalid_value': {
      const allowed = issue.values.map(String);
      const value = valueAt(src.value, path);
      const guess = typeof value === 'string' ? closest(value, allowed) : undefined;
      return [diagnosticAt(src, `must be one of ${allowed.join(', ')}`, {
        path, code: 'schema', hint: guess ? `did you mean ${guess}?` : undefined,
      })];
    }
    case 'custom': {
      const hint = (issue.params as { hint?: string } | undefined)?.hint;
      return [diagnosticAt(src, issue.message, { path, code: 'schema', hint })];
    }
    default:
      return [diagnosticAt(src, plain(issue.message), { path, code: 'schema' })];
  }
}

function unknownField(src: LoadedResource, schema: AnySchema, parent: Path, key: string): Diagnostic {
  const path = [...parent, key];
  if (key === '<<') {
    return diagnosticAt(src, 'YAML merge keys (<<) are not supported', { path, onKey: true, code: 'unknown-field', hint: 'write the fields out; anchors and aliases of whole values still work' });
  }
  const known = keysAt(schema, parent);
  const secretField = known.find((k) => k === `${key}SecretRef` || k === `${key}Ref` && /SecretRef$/.test(k));
  if (secretField || SECRET_WORDS.test(key)) {
    return diagnosticAt(src, `unknown field "${key}": a secret must not be written inline`, {
      path, onKey: true, code: 'inline-secret', hint: secretField ? `use ${secretField}: { name, key }; ${SECRET_HINT}` : SECRET_HINT,
    });
  }
  const guess = closest(key, known);
  return diagnosticAt(src, `unknown field "${key}"`, {
    path, onKey: true, code: 'unknown-field',
    hint: guess ? `did you mean "${guess}"?` : known.length ? `known fields here: ${known.join(', ')}` : undefined,
  });
}

/** Field names the schema accepts at path. */
function keysAt(schema: AnySchema, path: Path): string[] {
  let s: AnySchema | undefined = schema;
  for (const seg of [...path, null]) {
    s = unwrap(s);
    if (!s) return [];
    const def = s._zod.def as unknown as Record<string, unknown>;
    if (seg === null) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    if (def.type === 'object') s = (def.shape as Record<string, AnySchema>)[String(seg)];
    else if (def.type === 'array') s = def.element as AnySchema;
    else if (def.type === 'record') s = def.valueType as AnySchema;
    else return [];
  }
  return [];
}

function unwrap(s: AnySchema | undefined): AnySchema | undefined {
  while (s) {
    const def = s._zod.def as unknown as Record<string, unknown>;
    if (['optional', 'default', 'nullable', 'prefault', 'readonly', 'catch'].includes(def.type as string)) s = def.innerType as AnySchema;
    else if (def.type === 'pipe') s = def.in as AnySchema;
    else return s;
  }
  return s;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const seg of path) v = v === null || typeof v !== 'object' ? undefined : (v as Record<string, unknown>)[seg as string];
  return v;
}

/** A missing field is reported where its parent is. */
function parentPlace(path: Path): { path: Path; onKey: boolean } {
  return { path: path.slice(0, -1), onKey: true };
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (Buffer.isBuffer(value)) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

/** zod's own wording, made to read as a sentence after a field name. */
function plain(message: string): string {
  return message.replace(/^(Too small|Too big|Invalid input|Invalid string|Invalid): /, '');
}
