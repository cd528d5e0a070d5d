// What a user holds, by the names configurations use for it. Pure.
import type { UserFields } from '../api/index.js';

/** A template variable: ${userUPN}, ${userEmailAddress} or a custom attribute (its first value). */
export function variable(user: UserFields, name: string): string | undefined {
  if (name === 'userUPN') return user.upn || undefined;
  if (name === 'userEmailAddress') return user.email || undefined;
  const v = user.attributes[name];
  return (Array.isArray(v) ? v[0] : v) || undefined;
}

/** A user field SQL provisioning maps: uid (the user's stable id in its source), firstName, lastName, displayName, or a variable. */
export function userField(user: UserFields, name: string): string | undefined {
  switch (name) {
    case 'uid':
      return user.id.startsWith(`${user.source}/`) ? user.id.slice(user.source.length + 1) : user.id;
    case 'firstName':
      return user.firstName || undefined;
    case 'lastName':
      return user.lastName || undefined;
    case 'displayName':
      return user.displayName || undefined;
    default:
      return variable(user, name);
  }
}
