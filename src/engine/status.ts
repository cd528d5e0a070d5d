// Conditions and status: pure functions of what happened and what was there before.

import type { Condition } from '../api/condition.js';

export { conditionOf, readyOf, type Condition } from '../api/condition.js';

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** The transition time moves only when a condition's status flips, as Kubernetes does it. */
export function mergeConditions(previous: unknown, next: ConditionInput[], generation: number, now: string): Condition[] {
  const prev = Array.isArray(previous) ? (previous as Condition[]) : [];
  return next.map((c) => {
    const old = prev.find((p) => p.type === c.type);
    return { ...c, observedGeneration: generation, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now };
  });
}
