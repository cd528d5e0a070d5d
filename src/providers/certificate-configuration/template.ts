import type { DirectoryUser } from '../../api/index.js';
import { variable } from '../../identity/user-fields.js';
// Subject and SAN templates expanded for one user: ${userUPN}, ${userEmailAddress} and custom
// attributes. A missing value is reported, never issued as a blank. Pure.

/** A template split once for expanding it for many users: text, then each variable's name followed by the text after it. */
export const compile = (template: string): string[] => template.split(/\$\{([^}]+)\}/);

/** The template with each variable replaced (through `escape`), or the variables the user lacks. */
export function expand(template: string | string[], user: DirectoryUser, escape: (v: string) => string = (v) => v): { value: string } | { missing: string[] } {
  const parts = typeof template === 'string' ? compile(template) : template;
  let value = parts[0]!;
  let missing: string[] | undefined;
  for (let i = 1; i < parts.length; i += 2) {
    const v = variable(user, parts[i]!);
    if (v === undefined) (missing ??= []).push(parts[i]!);
    else value += escape(v);
    value += parts[i + 1]!;
  }
  return missing ? { missing } : { value };
}
