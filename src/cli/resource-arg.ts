// Kind/name as typed on the command line.
import { findKind, KINDS } from '../api/index.js';
import type { ResourceId } from '../store/types.js';
import { UserError } from './errors.js';

/** Kind/name in the tenant given by -n, or Kind/tenant/name as status prints it. */
export function parseResourceArg(text: string, tenant: string): ResourceId {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !p)) throw new UserError(`"${text}": expected Kind/name, e.g. Connector/paris-dc (or Kind/tenant/name)`);
  const def = findKind(parts[0]!);
  if (!def) throw new UserError(`"${parts[0]}" is not a kind; kinds: ${KINDS.map((k) => k.kind).join(', ')}`);
  return parts.length === 3 ? { tenant: parts[1]!, kind: def.kind, name: parts[2]! } : { tenant, kind: def.kind, name: parts[1]! };
}
