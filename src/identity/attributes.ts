// Which custom attributes a sync round filled in (seed 002's notifications "no user attribute
// synced" and "some user attributes not synced"). Pure.
import type { DirectoryUser } from '../store/types.js';

export interface AttributeCoverage {
  /** No user has any of the custom attributes: probably a permission or mapping problem. */
  none: boolean;
  /** Attributes some users lack, with how many lack each. */
  lacking: { name: string; users: number }[];
}

export function attributeCoverage(users: DirectoryUser[], names: string[]): AttributeCoverage {
  if (!names.length || !users.length) return { none: false, lacking: [] };
  const have = new Map(names.map((n) => [n, 0]));
  for (const u of users) for (const n of names) if (u.attributes[n] !== undefined) have.set(n, have.get(n)! + 1);
  const lacking = names.filter((n) => have.get(n)! < users.length).map((n) => ({ name: n, users: users.length - have.get(n)! }));
  return { none: names.every((n) => have.get(n) === 0), lacking };
}

export function describeLacking(lacking: AttributeCoverage['lacking'], total: number): string {
  return lacking.map((l) => `${l.name} (missing on ${l.users} of ${total} users)`).join(', ');
}
