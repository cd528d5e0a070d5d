// What a user holds, by the names configurations use for it. Pure.
import type { UserFields, UserValue } from '../api/index.js';

/** A template variable: ${userUPN}, ${userEmailAddress} or a custom attribute (its first value). */
export function variable(user: UserFields, name: string): string | undefined {
  if (name === 'userUPN') return user.upn || undefined;
  if (name === 'userEmailAddress') return user.email || undefined;
  const v = user.attributes[name];
  return (Array.isArray(v) ? v[0] : v) || undefined;
}

/** The user's stable id in its source: the store's id without the source's prefix. */
const uidOf = (id: string, source: string) => (id.startsWith(`${source}/`) ? id.slice(source.length + 1) : id);

/** A user field SQL provisioning maps: uid (the user's stable id in its source), firstName, lastName, displayName, or a variable. */
export function userField(user: UserFields, name: string): string | undefined {
  switch (name) {
    case 'uid':
      return uidOf(user.id, user.source);
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

/** How a user field is read for every user of a source at once: the value the store reads, and what makes it the field. */
export interface UserFieldRead {
  value: UserValue;
  field: (value: string | null) => string | undefined;
}

const some = (value: string | null) => value || undefined;

/** userField(user, name) for the users of `source`, as the store reads them (Store.forEachUserValues). */
export function userFieldRead(name: string, source: string): UserFieldRead {
  switch (name) {
    case 'uid':
      return { value: { field: 'id' }, field: (id) => uidOf(id!, source) };
    case 'userUPN':
      return { value: { field: 'upn' }, field: some };
    case 'userEmailAddress':
      return { value: { field: 'email' }, field: some };
    case 'firstName':
    case 'lastName':
    case 'displayName':
      return { value: { field: name }, field: some };
    default:
      return { value: { attribute: name }, field: some };
  }
}
