// Conditions and status: pure functions of what happened and what was there before.

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

/** The transition time moves only when a condition's status flips, as Kubernetes does it. */
export function mergeConditions(previous: unknown, next: ConditionInput[], generation: number, now: string): Condition[] {
  const prev = Array.isArray(previous) ? (previous as Condition[]) : [];
  return next.map((c) => {
    const old = prev.find((p) => p.type === c.type);
    return { ...c, observedGeneration: generation, lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now };
  });
}

export function conditionOf(status: Record<string, unknown> | undefined, type: string): Condition | undefined {
  const conditions = status?.conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]).find((c) => c.type === type) : undefined;
}

export const readyOf = (status: Record<string, unknown> | undefined) => conditionOf(status, 'Ready');

