// Managed Apple IDs (seed 002): built from a user's e-mail address or UPN, optionally in the
// "appleid" subdomain so they cannot clash with Apple IDs people made themselves. Pure.
import type { DirectoryUser } from '../store/types.js';

export interface AppleIdSettings {
  mode: 'None' | 'Schema';
  schema?: 'UserEmailAddress' | 'UserUPN';
  includeAppleIdSubdomain: boolean;
}

export interface AppleIdResult {
  /** The users, each with its Apple ID, or none when it cannot have one. */
  users: DirectoryUser[];
  /** Apple IDs that two or more users would get: none of them gets it. */
  collisions: { appleId: string; users: string[] }[];
  /** Users without the address the schema builds from. */
  missing: string[];
}

export function appleIdOf(address: string | undefined, subdomain: boolean): string | undefined {
  const at = address?.lastIndexOf('@') ?? -1;
  if (!address || at < 1 || at === address.length - 1) return undefined;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  return `${local}@${subdomain ? `appleid.${domain}` : domain}`;
}

/**
 * Assigns Apple IDs within one source, setting each user's appleId in place (the users are the
 * round's own, fresh from the reader: a directory of 100,000 users is not copied again). Apple IDs
 * compare without regard to case, so "Anne@x" and "anne@x" collide; a collision is reported rather
 * than resolved by guessing.
 */
export function assignAppleIds(users: DirectoryUser[], settings: AppleIdSettings): AppleIdResult {
  for (const u of users) delete u.appleId;
  if (settings.mode === 'None') return { users, collisions: [], missing: [] };
  const wanted = new Map<string, DirectoryUser[]>();
  const missing: string[] = [];
  for (const u of users) {
    const id = appleIdOf(settings.schema === 'UserUPN' ? u.upn : u.email, settings.includeAppleIdSubdomain);
    if (!id) missing.push(u.upn);
    else wanted.set(id.toLowerCase(), [...(wanted.get(id.toLowerCase()) ?? []), u]);
  }
  const collisions: AppleIdResult['collisions'] = [];
  for (const holders of wanted.values()) {
    const id = appleIdOf(settings.schema === 'UserUPN' ? holders[0]!.upn : holders[0]!.email, settings.includeAppleIdSubdomain)!;
    if (holders.length > 1) collisions.push({ appleId: id, users: holders.map((u) => u.upn).sort() });
    else holders[0]!.appleId = id;
  }
  return { users, collisions, missing };
}
