// Subject and SAN templates expanded for one user: ${userUPN}, ${userEmailAddress} and custom
// attributes. A missing value is reported, never issued as a blank. Pure.
import type { DirectoryUser } from '../../store/types.js';

export function variable(user: DirectoryUser, name: string): string | undefined {
  if (name === 'userUPN') return user.upn || undefined;
  if (name === 'userEmailAddress') return user.email || undefined;
  const v = user.attributes[name];
  return (Array.isArray(v) ? v[0] : v) || undefined;
}

/** The template with each variable replaced (through `escape`), or the variables the user lacks. */
export function expand(template: string, user: DirectoryUser, escape: (v: string) => string = (v) => v): { value: string } | { missing: string[] } {
  const missing: string[] = [];
  const value = template.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    const v = variable(user, name);
    if (v === undefined) missing.push(name);
    return v === undefined ? '' : escape(v);
  });
  return missing.length ? { missing } : { value };
}
