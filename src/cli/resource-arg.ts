// Kind/name as typed on the command line.
import { findKind, KINDS } from '../api/index.js';
import type { ResourceId } from '../store/types.js';
import { UserError } from './errors.js';

export function parseResourceArg(text: string, tenant: string): ResourceId {
  const slash = text.indexOf('/');
  if (slash <= 0 || slash === text.length - 1) throw new UserError(`"${text}": expected Kind/name, e.g. Connector/paris-dc`);
  const def = findKind(text.slice(0, slash));
  if (!def) throw new UserError(`"${text.slice(0, slash)}" is not a kind; kinds: ${KINDS.map((k) => k.kind).join(', ')}`);
  return { tenant, kind: def.kind, name: text.slice(slash + 1) };
}
