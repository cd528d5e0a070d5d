// A resource's conditions as status holds them, and how to find one: the store keeps each record's
// Ready condition beside it (to filter and sort in SQL), the engine and the console read them.

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export function conditionOf(status: Record<string, unknown> | undefined, type: string): Condition | undefined {
  const conditions = status?.conditions;
  return Array.isArray(conditions) ? (conditions as Condition[]).find((c) => c.type === type) : undefined;
}

export const readyOf = (status: Record<string, unknown> | undefined) => conditionOf(status, 'Ready');

/** Ready as lists show it: its status (Unknown without one), its reason when not ready, its message. */
export function readySummary(status: Record<string, unknown> | undefined): { ready: string; reason: string; message: string } {
  const ready = readyOf(status);
  const state = ready?.status ?? 'Unknown';
  return { ready: state, reason: state === 'True' ? '' : (ready?.reason ?? ''), message: ready?.message ?? '' };
}
