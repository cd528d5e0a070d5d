// How the run loop tells an administrator about its source: problems are logged, counted, kept for
// the status API and raised as notifications of Source/<source> in the tenant store (when they start
// or say something new, and resolved when they are over); revisions go to the audit log.
import type { Logger } from '../observe/log.js';
import type { Counter } from '../observe/metrics.js';
import type { AuditEntry, ResourceId, Severity, Store, Write } from '../store/types.js';
import type { RevisionInfo, SourceProblem } from './source.js';
import { messageOf } from '../util/message-of.js';

export class SourceReport {
  readonly id: ResourceId;
  /** Open notifications by reason. */
  private readonly open = new Map<string, { severity: Severity; message: string; since: string }>();
  lastError?: { at: string; reason: string; message: string };

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly failures: Counter,
    private readonly source: string,
    private readonly actor: string,
  ) {
    this.id = { tenant: 'default', kind: 'Source', name: source };
  }

  /** Picks up what an earlier run left open. */
  async load(): Promise<void> {
    for (const n of await this.store.listNotifications({ active: true })) {
      if (n.kind === this.id.kind && n.name === this.id.name && n.tenant === this.id.tenant) this.open.set(n.reason, { severity: n.severity, message: n.message, since: n.firstSeen });
    }
  }

  /** A failure counts in the metrics and becomes the last error; notify false keeps it out of the store. */
  async raise(p: SourceProblem, how: { failure?: boolean; notify?: boolean } = {}): Promise<void> {
    const at = new Date().toISOString();
    this.log[p.severity === 'Error' ? 'error' : 'warn']({ reason: p.reason }, p.message);
    if (how.failure) {
      this.failures.inc({ reason: p.reason });
      this.lastError = { at, reason: p.reason, message: p.message };
    }
    if (how.notify === false) return;
    const open = this.open.get(p.reason);
    if (open?.message === p.message && open.severity === p.severity) return;
    this.open.set(p.reason, { severity: p.severity, message: p.message, since: open?.since ?? at });
    await this.write([{ op: 'notify', notification: { ...this.id, reason: p.reason, severity: p.severity, message: p.message, lastSeen: at } }]);
  }

  async resolve(...reasons: string[]): Promise<void> {
    for (const reason of reasons) {
      if (!this.open.delete(reason)) continue;
      this.log.info({ reason }, `resolved: ${reason}`);
      await this.write([{ op: 'resolveNotification', id: this.id, reason }]);
    }
  }

  hasErrors(): boolean {
    return [...this.open.values()].some((p) => p.severity === 'Error');
  }

  problems() {
    return [...this.open].map(([reason, p]) => ({ reason, ...p }));
  }

  async audit(action: string, rev: RevisionInfo, detail: Record<string, unknown>): Promise<void> {
    const entry: AuditEntry = { at: new Date().toISOString(), ...this.id, action, source: this.source, revision: rev.revision, actor: this.actor, detail: { ...commitDetail(rev), ...detail } };
    await this.write([{ op: 'audit', entry }]);
  }

  /** A store that cannot be written is logged, not fatal: the next round tries again. */
  private async write(writes: Write[]): Promise<void> {
    try {
      await this.store.commit(writes);
    } catch (e) {
      this.log.error({ err: messageOf(e) }, 'cannot write to the tenant store');
    }
  }
}

/** What the audit log keeps of a commit beside its SHA. */
export function commitDetail(rev: RevisionInfo): Record<string, unknown> {
  return { ...(rev.subject ? { subject: rev.subject } : {}), ...(rev.author ? { author: rev.author } : {}) };
}
