// What the run mode remembers across restarts, kept in the tenant store beside what it applied (so
// replicas sharing a PostgreSQL store agree): the revision in force, the last one applied whole,
// and one whose apply was cut short.
import type { Store } from '../store/types.js';
import type { RevisionInfo } from './source.js';

export interface RunState {
  /** The newest revision that validated and planned: the one kept in force. */
  lastGood?: RevisionInfo;
  /** The last revision applied to the end. */
  applied?: RevisionInfo & { at: string };
  /** A revision whose apply stopped part way (a stop, a crash): applied again at the next round. */
  partial?: RevisionInfo & { done: number; total: number; at: string };
}

const metaKey = (source: string) => `run:${source}`;

export async function loadRunState(store: Store, source: string): Promise<RunState> {
  const text = await store.getMeta(metaKey(source));
  return text ? (JSON.parse(text) as RunState) : {};
}

export async function saveRunState(store: Store, source: string, state: RunState): Promise<void> {
  await store.commit([{ op: 'setMeta', key: metaKey(source), value: JSON.stringify(state) }]);
}
