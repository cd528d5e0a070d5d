// What plan and apply share: validated files turned into desired state (apart from session.ts, so
// that the commands that read no configuration do not load the YAML parser).
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics.js';
import { validatePaths, type ValidationResult } from '../config/validate.js';
import { desiredInput, type Input } from '../config/input.js';
import { UserError } from './errors.js';
import type { Session } from './session.js';

/**
 * Validates everything first: one invalid resource means nothing goes further. Called before the
 * store is opened, so that an invalid configuration creates nothing.
 */
export function checkInput(paths: string[]): ValidationResult {
  const result = validatePaths(paths);
  if (result.diagnostics.length) refuseInvalid(result.diagnostics);
  return result;
}

function refuseInvalid(diagnostics: Diagnostic[]): never {
  for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n');
  throw new UserError(`the configuration is invalid (${diagnostics.length} error${diagnostics.length === 1 ? '' : 's'}): nothing was planned or applied`);
}

/** The desired state of a checked configuration (see checkInput). */
export async function loadInput(checked: ValidationResult, session: Session): Promise<Input> {
  const read = await desiredInput(checked, session.secrets, session.key);
  if ('diagnostics' in read) refuseInvalid(read.diagnostics);
  return read;
}
