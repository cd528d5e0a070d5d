import type { DirectoryUser } from '../api/index.js';
// Which custom attributes a sync round filled in (seed 002's notifications "no user attribute
// synced" and "some user attributes not synced"). Pure.

export interface AttributeCoverage {
  /** No user has any of the custom attributes: probably a permission or mapping problem. */
  none: boolean;
  /** Attributes some users lack, with how many lack each. */
  lacking: { name: string; users: number }[];
}

/** Counts, user by user as a round reads them, which custom attributes they have. */
export class AttributeCounter {
  private users = 0;
  private readonly have: number[];

  constructor(private readonly names: string[]) {
    this.have = names.map(() => 0);
  }

  add(u: DirectoryUser): void {
    this.users++;
    for (let k = 0; k < this.names.length; k++) if (u.attributes[this.names[k]!] !== undefined) this.have[k]!++;
  }

  coverage(): AttributeCoverage {
    const { names, have, users } = this;
    if (!names.length || !users) return { none: false, lacking: [] };
    return { none: have.every((n) => n === 0), lacking: names.flatMap((name, k) => (have[k]! < users ? [{ name, users: users - have[k]! }] : [])) };
  }
}

export function describeLacking(lacking: AttributeCoverage['lacking'], total: number): string {
  return lacking.map((l) => `${l.name} (missing on ${l.users} of ${total} users)`).join(', ');
}
