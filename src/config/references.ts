// Layer 2: duplicates, references that resolve within the tenant, and dependency cycles.
import { displayName, kindNamed, resourceKey, type Reference } from '../api/index.js';
import type { Diagnostic } from './diagnostics.js';
import { diagnosticAt } from './positions.js';
import type { LoadedResource, ValidResource } from './source.js';
import { closest } from './suggest.js';

const keyOf = (kind: string, namespace: string, name: string) => `${kind}/${namespace}/${name}`;

/** `all` holds every resource that was read, valid or not, so that a reference to an invalid one is not reported twice. */
export function checkReferences(valid: ValidResource<LoadedResource>[], all: LoadedResource[]): Diagnostic[] {
  const diagnostics: Diagnostic[] = [];
  const declared = new Map<string, LoadedResource>();
  for (const src of all) {
    if (src.name === undefined) continue;
    const key = keyOf(src.kind, src.namespace, src.name);
    const first = declared.get(key);
    if (first) {
      diagnostics.push(diagnosticAt(src, `duplicate: ${displayName(src.kind, src.name, src.namespace)} is already declared at ${first.file}:${first.lineCounter.linePos(first.node.range?.[0] ?? 0).line}`, {
        path: ['metadata', 'name'], code: 'duplicate',
      }));
    } else declared.set(key, src);
  }

  const missing = (src: LoadedResource, ref: Reference) =>
    diagnosticAt(src, `${ref.kind} "${ref.name}" not found in tenant "${src.namespace}"`, { path: ref.path, code: 'reference', hint: missingHint(ref, src.namespace, all) });
  const edges = new Map<string, { to: string; ref: Reference }[]>();
  for (const v of valid) {
    const { namespace } = v.resource.metadata;
    const out: { to: string; ref: Reference }[] = [];
    for (const ref of v.def.references(v.resource.spec)) {
      const target = keyOf(ref.kind, namespace, ref.name);
      if (declared.has(target)) out.push({ to: target, ref });
      else diagnostics.push(missing(v.source, ref));
    }
    edges.set(resourceKey(v.resource), out);
  }
  // A resource with schema errors still has its references checked, as far as they can be read:
  // fixing one error should not uncover the next.
  const checked = new Set(valid.map((v) => v.source));
  for (const src of all) {
    if (checked.has(src)) continue;
    for (const ref of readableReferences(src)) if (!declared.has(keyOf(ref.kind, src.namespace, ref.name))) diagnostics.push(missing(src, ref));
  }
  diagnostics.push(...cycles(valid, edges));
  return diagnostics;
}

/** The references an invalid resource's spec holds where they have the shape a reference has. */
function readableReferences(src: LoadedResource): Reference[] {
  const def = kindNamed(src.kind);
  const spec = src.value.spec;
  if (!def || typeof spec !== 'object' || spec === null) return [];
  try {
    return def.references(spec as never).filter((r) => typeof r.name === 'string' && DNS_NAME.test(r.name));
  } catch {
    return []; // a spec too far from its kind's shape to read references from: its schema errors say so
  }
}

const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function missingHint(ref: Reference, namespace: string, all: LoadedResource[]): string | undefined {
  const sameKind = all.filter((s) => s.kind === ref.kind && s.name !== undefined);
  const elsewhere = sameKind.find((s) => s.name === ref.name && s.namespace !== namespace);
  if (elsewhere) return `${ref.kind}/${ref.name} exists in tenant "${elsewhere.namespace}"; references stay within a tenant`;
  const guess = closest(ref.name, sameKind.filter((s) => s.namespace === namespace).map((s) => s.name!));
  return guess ? `did you mean "${guess}"?` : `declare a ${ref.kind} named "${ref.name}" in tenant "${namespace}"`;
}

/** Each cycle once, reported on the resource where it was first entered, as A -> B -> A. */
function cycles(valid: ValidResource<LoadedResource>[], edges: Map<string, { to: string; ref: Reference }[]>): Diagnostic[] {
  const byKey = new Map(valid.map((v) => [resourceKey(v.resource), v]));
  const state = new Map<string, 'active' | 'done'>();
  const diagnostics: Diagnostic[] = [];
  const label = (key: string) => {
    const [kind, ns, name] = key.split('/') as [string, string, string];
    return displayName(kind, name, ns);
  };
  for (const start of byKey.keys()) {
    if (state.has(start)) continue;
    // Iterative depth-first search; the stack holds the current path.
    const stack: { key: string; next: number }[] = [{ key: start, next: 0 }];
    state.set(start, 'active');
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const out = edges.get(top.key) ?? [];
      if (top.next >= out.length) {
        state.set(top.key, 'done');
        stack.pop();
        continue;
      }
      const edge = out[top.next++]!;
      const s = state.get(edge.to);
      if (s === 'active') {
        const from = stack.findIndex((f) => f.key === edge.to);
        const loop = [...stack.slice(from).map((f) => label(f.key)), label(edge.to)];
        const owner = byKey.get(top.key)!;
        diagnostics.push(diagnosticAt(owner.source, `dependency cycle: ${loop.join(' -> ')}`, {
          path: edge.ref.path, code: 'cycle', hint: 'a resource cannot depend on itself, directly or through others',
        }));
      } else if (s === undefined && edges.has(edge.to)) {
        state.set(edge.to, 'active');
        stack.push({ key: edge.to, next: 0 });
      }
    }
  }
  return diagnostics;
}
