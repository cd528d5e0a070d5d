// Field paths to line and column, through the YAML nodes the resource was read from.
import { isAlias, isMap, isScalar, isSeq, type Node, type Pair } from 'yaml';
import { displayName, type Path } from '../api/index.js';
import { fieldPath, type Diagnostic } from './diagnostics.js';
import type { LoadedResource } from './source.js';

/** Offset of the node at path, or of the deepest node that exists on the way; onKey points at the key. */
export function offsetOf(src: LoadedResource, path: Path, onKey = false): number {
  let node: Node | null = src.node;
  let offset = node.range?.[0] ?? 0;
  for (let i = 0; i < path.length && node; i++) {
    if (isAlias(node)) node = node.resolve(src.doc) ?? null;
    const seg = path[i];
    if (isMap(node)) {
      const pair: Pair | undefined = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyOffset = (pair.key as Node).range?.[0] ?? offset;
      const last = i === path.length - 1;
      if (last && onKey) return keyOffset;
      node = (pair.value as Node | null) ?? null;
      offset = node?.range?.[0] ?? keyOffset;
      if (!last && node && !isMap(node) && !isSeq(node) && !isAlias(node)) return keyOffset;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = (node.items[seg] as Node | undefined) ?? null;
      if (node?.range) offset = node.range[0];
    } else {
      break;
    }
  }
  return offset;
}

export interface At {
  path?: Path;
  onKey?: boolean;
  hint?: string;
  code: string;
}

/** A diagnostic about a resource, placed at a field. */
export function diagnosticAt(src: LoadedResource, message: string, at: At): Diagnostic {
  const { line, col } = src.lineCounter.linePos(offsetOf(src, at.path ?? [], at.onKey));
  const field = at.path?.length ? fieldPath(at.path) : undefined;
  return {
    file: src.file,
    line,
    column: col,
    resource: displayName(src.kind, src.name ?? '<unnamed>', src.namespace),
    ...(field ? { field } : {}),
    message: field ? `${field}: ${message}` : message,
    ...(at.hint ? { hint: at.hint } : {}),
    code: at.code,
  };
}
