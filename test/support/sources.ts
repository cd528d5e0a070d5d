// Building validation input in memory: YAML text as if read from a file.
import { DEFAULT_LIMITS, type Limits } from '../../src/config/limits.js';
import { validateSources, type ValidationResult } from '../../src/config/validate.js';
import { formatDiagnostic } from '../../src/config/diagnostics.js';

export const API = 'apiVersion: mdmops.io/v1alpha1';

export function validateText(files: Record<string, string | Uint8Array>, limits: Partial<Limits> = {}, dir = process.cwd()): ValidationResult {
  const sources = Object.entries(files).map(([file, text]) => ({
    file,
    baseDir: dir,
    root: dir,
    bytes: typeof text === 'string' ? Buffer.from(text) : text,
  }));
  return validateSources(sources, { ...DEFAULT_LIMITS, ...limits });
}

/** Diagnostics as the CLI prints them, without hints. */
export function lines(result: ValidationResult): string[] {
  return result.diagnostics.map((d) => formatDiagnostic({ ...d, hint: undefined }));
}

export function resource(kind: string, name: string, spec: string, namespace?: string): string {
  return `${API}\nkind: ${kind}\nmetadata:\n  name: ${name}\n${namespace ? `  namespace: ${namespace}\n` : ''}spec:\n${spec.replace(/^/gm, '  ')}\n`;
}
