// A problem found in the input, with where it is and what to do about it.
export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  /** Kind/name, when the problem belongs to a resource. */
  resource?: string;
  /** Dotted field path within the resource, e.g. spec.logLevel. */
  field?: string;
  message: string;
  hint?: string;
  /** Stable identifier of the check, for tools: yaml, limit, encoding, envelope, schema, unknown-field, reference, duplicate, cycle, rule, file. */
  code: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  const where = d.line ? `${d.file}:${d.line}:${d.column}` : d.file; // line 0: about the path itself
  const head = d.resource ? `${where}: ${d.resource}: ${d.message}` : `${where}: ${d.message}`;
  return d.hint ? `${head}\n  hint: ${d.hint}` : head;
}

export function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return [...ds].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.line - b.line || a.column - b.column));
}

/** Dotted path as users write it: spec.items[2].name */
export function fieldPath(path: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** Library messages start with a capital; ours continue a sentence after a position. */
export function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
