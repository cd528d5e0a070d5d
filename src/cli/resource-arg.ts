// Kind/name as typed on the command line.
import { findKind, KINDS, type KindDefinition } from '../api/index.js';
import { closest } from '../config/suggest.js';
import type { ResourceId } from '../store/types.js';
import { UserError } from './errors.js';

/** A kind alone (any case, plural or short name) lists it; Kind/name or Kind/tenant/name is one resource. */
export function parseKindOrResource(text: string, tenant: string): { tenant: string; kind: string; name?: string } {
  if (text.includes('/')) return parseResourceArg(text, tenant);
  return { tenant, kind: kindArg(text).kind };
}

/** A kind as typed: any case, its plural or a short name. */
export function kindArg(text: string): KindDefinition {
  const def = findKind(text);
  if (!def) {
    const guess = closest(text, KINDS.map((k) => k.kind));
    throw new UserError(`"${text}" is not a kind${guess ? `; did you mean ${guess}?` : ''} (kinds: ${KINDS.map((k) => k.kind).join(', ')})`);
  }
  return def;
}

/** Kind/name in the tenant given by -n, or Kind/tenant/name as status prints it. */
export function parseResourceArg(text: string, tenant: string): ResourceId {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) throw new UserError(`"${text}": expected Kind/name, e.g. Connector/paris-dc (or Kind/tenant/name)`);
  const def = kindArg(parts[0]!);
  return parts.length === 3 ? { tenant: parts[1]!, kind: def.kind, name: parts[2]! } : { tenant, kind: def.kind, name: parts[1]! };
}
