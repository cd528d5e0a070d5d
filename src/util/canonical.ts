// Stable JSON and digests: equal values always give equal text, whatever the key order.
import { createHash } from 'node:crypto';

// Written with loops and string appends, not map/filter/join: a plan makes the text of ten thousand specs.
export function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i ? ',' : '') + canonical(value[i]);
    return `${text}]`;
  }
  const obj = value as Record<string, unknown>;
  let text = '{';
  for (const k of Object.keys(obj).sort()) {
    if (obj[k] !== undefined) text += `${text.length > 1 ? ',' : ''}${JSON.stringify(k)}:${canonical(obj[k])}`;
  }
  return `${text}}`;
}

/** Each field of an object with its canonical text ("key":value), in the order canonical writes them. */
export function canonicalFields(obj: Record<string, unknown>): [key: string, text: string][] {
  const fields: [string, string][] = [];
  for (const k of Object.keys(obj).sort()) {
    const v = obj[k];
    if (v !== undefined) fields.push([k, `${JSON.stringify(k)}:${canonical(v)}`]);
  }
  return fields;
}

/**
 * Whether canonical(a) === canonical(b), found by walking both without building either text. True
 * means equal; false may, rarely, be wrong (NaN), so a caller that must be exact checks canonical then.
 */
export function canonicallyEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!canonicallyEqual(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  // canonical leaves out keys whose value is undefined.
  let defined = 0;
  for (const k in x) {
    if (!Object.hasOwn(x, k) || x[k] === undefined) continue;
    if (!canonicallyEqual(x[k], y[k])) return false;
    defined++;
  }
  for (const k in y) if (Object.hasOwn(y, k) && y[k] !== undefined) defined--;
  return defined === 0;
}

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
