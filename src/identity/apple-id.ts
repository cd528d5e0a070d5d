import type { DirectoryUser } from '../api/index.js';
// Managed Apple IDs (seed 002): built from a user's e-mail address or UPN, optionally in the
// "appleid" subdomain so they cannot clash with Apple IDs people made themselves. Pure.

export interface AppleIdSettings {
  mode: 'None' | 'Schema';
  schema?: 'UserEmailAddress' | 'UserUPN';
  includeAppleIdSubdomain: boolean;
}

/** What a round's Apple IDs came to, beyond those set on the users. */
export interface AppleIdResult {
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
 * Assigns Apple IDs within one source, user by user as a round reads them: each user is given its
 * Apple ID at once (set in place: the users are the round's own, fresh from the reader, and a
 * directory of 100,000 users is not copied again), and finish() takes it back from those that turn
 * out to share it. Apple IDs compare without regard to case, so "Anne@x" and "anne@x" collide; a
 * collision is reported rather than resolved by guessing.
 */
export class AppleIdAssigner {
  /** By Apple ID in lower case: its first holder, or all of them once there are several. */
  private readonly wanted = new Map<string, DirectoryUser | DirectoryUser[]>();
  private readonly missing: string[] = [];

  constructor(private readonly settings: AppleIdSettings) {}

  add(u: DirectoryUser): void {
    delete u.appleId;
    if (this.settings.mode === 'None') return;
    const id = appleIdOf(this.settings.schema === 'UserUPN' ? u.upn : u.email, this.settings.includeAppleIdSubdomain);
    if (!id) {
      this.missing.push(u.upn);
      return;
    }
    u.appleId = id;
    const key = id.toLowerCase();
    const had = this.wanted.get(key);
    if (had === undefined) this.wanted.set(key, u);
    else if (Array.isArray(had)) had.push(u);
    else this.wanted.set(key, [had, u]);
  }

  /** The collisions and the users without an address; the colliding users (now without an Apple ID) in `taken`. */
  finish(): AppleIdResult & { taken: DirectoryUser[] } {
    const collisions: AppleIdResult['collisions'] = [];
    const taken: DirectoryUser[] = [];
    for (const holders of this.wanted.values()) {
      if (!Array.isArray(holders)) continue;
      collisions.push({ appleId: holders[0]!.appleId!, users: holders.map((u) => u.upn).sort() });
      for (const u of holders) {
        delete u.appleId;
        taken.push(u);
      }
    }
    return { collisions, missing: this.missing, taken };
  }
}
