// A configuration read for use: validated whole, then each resource's desired state (files read,
// secrets resolved), shared by the CLI, the GitOps loop and anything that applies a folder.
import { displayName } from '../api/index.js';
import type { MasterKey } from '../store/master-key.js';
import { sha256 } from '../util/canonical.js';
import { messageOf } from '../util/message-of.js';
import { desiredOf, type Desired } from './desired.js';
import type { Diagnostic } from './diagnostics.js';
import type { SecretResolver } from './secrets.js';
import { validatePaths, type ValidationResult } from './validate.js';

export interface Input {
  desired: Desired[];
  /** What the input is, for the inventory and the audit log when no --revision is given. */
  digest: string;
}

/**
 * The desired state of a whole configuration, or every problem that keeps it from being used.
 * `label` names files in messages (see validatePaths).
 */
export async function readInput(paths: string[], secrets: SecretResolver, key: MasterKey, label?: (file: string) => string): Promise<Input | { diagnostics: Diagnostic[] }> {
  const result = validatePaths(paths, undefined, label);
  if (result.diagnostics.length) return { diagnostics: result.diagnostics };
  return desiredInput(result, secrets, key);
}

/** The desired state of a validated configuration, or what keeps it from being used (a file, two secrets read from one place). */
export async function desiredInput(result: ValidationResult, secrets: SecretResolver, key: MasterKey): Promise<Input | { diagnostics: Diagnostic[] }> {
  const desired: Desired[] = [];
  for (const v of result.resources) {
    const origin = { file: v.source.file, line: v.source.line };
    try {
      desired.push(await desiredOf(v, result.content, secrets, key, origin));
    } catch (e) {
      const resource = displayName(v.resource.kind, v.resource.metadata.name, v.resource.metadata.namespace);
      return { diagnostics: [{ file: origin.file, line: origin.line, column: 1, resource, message: messageOf(e), code: 'file' }] };
    }
  }
  // Two refs read from one place would silently share a value.
  const refs = desired.flatMap((d) => Object.values(d.secrets).map((s) => ({ desired: d, tenant: d.id.tenant, ref: s.ref })));
  const clashes = secrets.conflicts?.(refs) ?? [];
  if (clashes.length) {
    return {
      diagnostics: clashes.map(({ index, message }) => {
        const d = refs[index]!.desired;
        return { file: d.origin?.file ?? '', line: d.origin?.line ?? 0, column: 1, resource: displayName(d.id.kind, d.id.name, d.id.tenant), message, code: 'reference' as const };
      }),
    };
  }
  const digest = sha256(desired.map((d) => `${d.key}=${d.desiredHash}`).sort().join('\n')).slice(0, 12);
  return { desired, digest: `sha256:${digest}` };
}
