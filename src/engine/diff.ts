// Field-level differences between what is and what should be. Pure.

export interface FieldDiff {
  /** Dotted path, e.g. spec.subject.commonName or spec.usages[1]. */
  path: string;
  before?: unknown;
  after?: unknown;
  /** A secret: its value is never shown, only that it changed. */
  masked?: string;
}

export function diffValues(before: unknown, after: unknown, path: string): FieldDiff[] {
  if (before === after) return [];
  // A whole object added or removed is shown field by field.
  if ((isObject(before) || before === undefined) && (isObject(after) || after === undefined)) {
    before ??= {};
    after ??= {};
    const [b, a] = [before as Record<string, unknown>, after as Record<string, unknown>];
    const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])].sort();
    return keys.flatMap((k) => diffValues(b[k], a[k], `${path}.${k}`));
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    return before.flatMap((b, i) => diffValues(b, after[i], `${path}[${i}]`));
  }
  if (before !== undefined && after !== undefined && JSON.stringify(before) === JSON.stringify(after)) return [];
  return [{ path, before, after }];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Differences in secret values, by keyed digest: shown masked. */
export function diffSecrets(before: Record<string, string | null>, after: Record<string, string | null>): FieldDiff[] {
  const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return paths.flatMap((path): FieldDiff[] => {
    const b = before[path];
    const a = after[path];
    if (b === a || a === undefined) return [];
    if (a === null) return [{ path, masked: 'secret not found' }];
    return [{ path, masked: b === null || b === undefined ? 'secret set' : 'secret value changed' }];
  });
}

export function formatValue(v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'string') return /^[\w.@:/+-]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

export function formatDiff(d: FieldDiff): string {
  if (d.masked) return `~ ${d.path}: (${d.masked})`;
  if (d.before === undefined) return `+ ${d.path}: ${formatValue(d.after)}`;
  if (d.after === undefined) return `- ${d.path}: ${formatValue(d.before)}`;
  return `~ ${d.path}: ${formatValue(d.before)} -> ${formatValue(d.after)}`;
}

/** The changed paths under fields that cannot change in place (a provider's replaceOn). */
export function replacing(diffs: Pick<FieldDiff, 'path'>[], fields: readonly string[]): string[] {
  const prefixes = fields.map((f) => `spec.${f}`);
  return diffs.map((d) => d.path).filter((p) => prefixes.some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`)));
}
