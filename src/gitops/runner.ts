// The run loop: each round looks for a new revision (a fetch, or an edited folder), validates the
// whole configuration at that revision, and applies it only if everything validates and plans
// without problems; otherwise the last good revision stays in force. Every round applies the
// revision in force again, which corrects drift and retries what is not Ready (a no-op apply
// writes nothing), except a terminal failure: it is tried again only once its input (its spec,
// files or secrets, or what the plan does with it) changes, or mdmops restarts. Problems are logged, counted in metrics, kept in the status API and raised as
// notifications of the resource Source/<source> in the tenant store.
//
// Stopping (SIGTERM): no new revision is started; an apply under way is finished. Only with a grace
// period, once it passes (or on a second SIGTERM), no further resource starts, the ones under way
// finish (each commits whole), and the revision is recorded as partially applied, to be applied
// again at the next start.
import { join, relative } from 'node:path';
import type { Diagnostic } from '../config/diagnostics.js';
import { applyPlan, type ResourceResult } from '../engine/apply.js';
import { show, statusLines } from '../engine/context.js';
import type { Desired } from '../config/desired.js';
import { hasChanges, makePlan, type Change, type Plan } from '../engine/plan.js';
import type { SecretResolver } from '../config/secrets.js';
import type { Engine } from '../engine/context.js';
import { readyOf } from '../engine/status.js';
import type { Logger } from '../observe/log.js';
import type { Registry } from '../observe/metrics.js';
import type { ApplyLock } from '../store/apply-lock.js';
import { runDueSyncsLogged } from '../engine/scheduled-sync.js';
import type { RevisionInfo, RevisionSource } from './source.js';
import { commitDetail, SourceReport } from './report.js';
import { loadRunState, saveRunState, type RunState } from './state.js';
import { messageOf } from '../util/message-of.js';

export interface RunSession extends Engine {
  secrets: SecretResolver;
}

export type ReadResult = { desired: Desired[] } | { diagnostics: Diagnostic[] };

export interface RunnerOptions {
  /** Name of this configuration in the inventory (what it applied, for pruning). */
  source: string;
  intervalMs: number;
  /** How long an apply under way may go on after a stop is asked for. */
  /** Undefined: an apply under way is finished, however long it takes. */
  gracePeriodMs?: number;
  concurrency: number;
  allowMassDelete: boolean;
  actor: string;
  /** One round, then return. */
  once?: boolean;
  /** Validates a folder and reads its desired state; `label` names its files in messages. */
  read(dir: string, label: (file: string) => string): Promise<ReadResult>;
  /** Takes the apply locks of the tenants the source touches (throws when another apply holds one). */
  lock(desired: Desired[]): Promise<ApplyLock>;
}

interface Attempt extends RevisionInfo {
  at: string;
  result: 'applied' | 'invalid' | 'refused' | 'interrupted';
  message?: string;
  errors?: Diagnostic[];
}

const MAX_ERRORS_SHOWN = 50;

function runMetrics(metrics: Registry, mode: string) {
  return {
    rounds: metrics.counter('mdmops_sync_rounds_total', 'Rounds of the run loop, by what started them (start, interval, webhook, change).'),
    failures: metrics.counter(`mdmops_${mode}_sync_failures_total`, 'Rounds that could not bring in or apply a revision, by reason.'),
    applied: metrics.counter('mdmops_revisions_applied_total', 'Revisions applied, by result (complete, interrupted).'),
    rewrites: metrics.counter('mdmops_history_rewrites_total', 'New heads that do not descend from the revision in force (force-push).'),
    duration: metrics.histogram('mdmops_apply_duration_seconds', 'Time to plan and apply a revision.'),
    lastApplied: metrics.gauge('mdmops_last_applied_timestamp_seconds', 'When a revision was last applied to the end (Unix time).'),
    resources: metrics.gauge('mdmops_resources', 'Resources applied from this source, by Ready status.'),
  };
}

/** What a terminal failure is held for: the resource's whole input and what the plan does with it. */
const inputOf = (c: Change) => `${c.action}:${c.desired?.desiredHash ?? ''}`;

const short = (revision: string) => (/^[0-9a-f]{40,64}$/.test(revision) ? revision.slice(0, 7) : revision);
const describeRev = (r: RevisionInfo) => `${short(r.revision)}${r.subject ? ` ("${r.subject}")` : ''}`;
const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

export class Runner {
  private state: RunState = {};
  private stopping = false;
  private readonly abort = new AbortController();
  private pending?: string;
  private wake?: (why: string) => void;
  private roundsDone = 0;
  private head?: RevisionInfo;
  /** A head already found invalid (or refused): not looked at again until it moves. */
  private rejected?: string;
  private applying?: RevisionInfo & { done: number; total: number; startedAt: string };
  private lastAttempt?: Attempt;
  private lastRound?: { at: string; trigger: string; result?: string };
  /** Terminal failures by resource key, with the input that failed. */
  private readonly terminal = new Map<string, { input: string; result: ResourceResult }>();
  private readonly m: ReturnType<typeof runMetrics>;
  private readonly report: SourceReport;

  constructor(
    private readonly session: RunSession,
    private readonly src: RevisionSource,
    private readonly log: Logger,
    private readonly opts: RunnerOptions,
    metrics: Registry,
  ) {
    this.m = runMetrics(metrics, src.mode);
    this.report = new SourceReport(session.store, log, this.m.failures, opts.source, opts.actor);
    src.onChange = (why) => this.trigger(why);
  }

  /** Until the first round is over (or while stopping), not ready. */
  notReady(): string | undefined {
    if (this.stopping) return 'stopping';
    if (this.roundsDone === 0) return 'the first round has not finished';
    return undefined;
  }

  /** Starts a round now (a webhook, an edit); one under way is followed by another. */
  trigger(why: string): void {
    this.pending ??= why;
    this.wake?.(why);
  }

  /** A first call lets an apply under way finish (within the grace period, if one is set); a second one stops it now. */
  stop(): void {
    if (this.stopping) {
      this.abort.abort();
      return;
    }
    this.stopping = true;
    const grace = this.opts.gracePeriodMs;
    if (this.applying) this.log.info({ revision: this.applying.revision, gracePeriodMs: grace }, grace === undefined ? 'stopping: finishing the apply under way (a second SIGTERM stops it sooner)' : 'stopping: the apply under way may finish within the grace period');
    if (grace !== undefined) setTimeout(() => this.abort.abort(), grace).unref();
    this.wake?.('stop');
  }

  async run(): Promise<void> {
    this.state = await loadRunState(this.session.store, this.opts.source);
    await this.report.load();
    if (this.state.partial) {
      const p = this.state.partial;
      this.log.warn({ revision: p.revision, done: p.done, total: p.total }, `revision ${describeRev(p)} was partly applied (${p.done} of ${p.total} resources) when mdmops last stopped: applying it again`);
    }
    let why = 'start';
    while (!this.stopping) {
      this.pending = undefined;
      try {
        await this.round(why);
      } catch (e) {
        await this.report.raise({ reason: 'RoundFailed', severity: 'Error', message: `the round failed: ${messageOf(e)}` }, { failure: true });
      }
      this.roundsDone++;
      if (this.opts.once || this.stopping) break;
      why = this.pending ?? (await this.sleep(this.opts.intervalMs));
    }
  }

  /** For `run --once`: the head is applied, and nothing is wrong. */
  succeeded(): boolean {
    return !!this.head && this.head.revision === this.state.applied?.revision && !this.report.hasErrors();
  }

  private sleep(ms: number): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done('interval'), ms);
      const done = (why: string) => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(why);
      };
      this.wake = done;
    });
  }

  private async round(trigger: string): Promise<void> {
    this.lastRound = { at: new Date().toISOString(), trigger };
    this.m.rounds.inc({ trigger });
    const look = await this.src.look();
    for (const r of look.resolved) await this.report.resolve(r);
    const inForce = this.state.lastGood ? `; revision ${describeRev(this.state.lastGood)} stays in force` : '';
    for (const p of look.problems) await this.report.raise({ ...p, message: `${p.message}${inForce}` }, { failure: true });
    if (look.head) this.head = look.head;

    let target: { rev: RevisionInfo; desired: Desired[]; fresh: boolean; rewritten: boolean } | undefined;
    const head = look.head;
    if (head && head.revision !== this.state.lastGood?.revision && head.revision !== this.rejected && !this.stopping) {
      const candidate = await this.evaluate(head);
      if (candidate) target = { ...candidate, rev: head, fresh: true };
    }
    if (!target && this.state.lastGood && !this.stopping) {
      const read = await this.read(this.state.lastGood);
      if (read && 'desired' in read) target = { rev: this.state.lastGood, desired: read.desired, fresh: false, rewritten: false };
      else if (read) await this.reject(this.state.lastGood, read.diagnostics, false);
    }
    if (target && !this.stopping) await this.apply(target.rev, target.desired, target.fresh, target.rewritten);

    try {
      await runDueSyncsLogged(this.session, this.session.secrets, 'mdmops run', this.log);
    } catch (e) {
      this.log.error({ err: messageOf(e) }, 'scheduled syncs failed');
    }
    await this.countResources();
    this.src.prune([this.state.lastGood?.revision, this.head?.revision].filter((r): r is string => !!r));
  }

  /** A new head: validated whole. Returns its desired state, or undefined when it is not to be applied. */
  private async evaluate(head: RevisionInfo): Promise<{ desired: Desired[]; rewritten: boolean } | undefined> {
    const previous = this.state.lastGood;
    const rewritten = !!previous && !(await this.src.follows(previous.revision, head.revision));
    if (rewritten) {
      this.m.rewrites.inc();
      await this.report.raise({
        reason: 'HistoryRewritten',
        severity: 'Warning',
        message: `history was rewritten (force-push): the new head ${describeRev(head)} does not descend from revision ${describeRev(previous!)} in force; the new head is applied if it is valid`,
      });
    }
    this.log.info({ revision: head.revision, subject: head.subject, author: head.author }, `new revision ${describeRev(head)}: validating`);
    const read = await this.read(head);
    if (!read) return undefined;
    if ('diagnostics' in read) {
      this.rejected = head.revision;
      await this.reject(head, read.diagnostics, true);
      return undefined;
    }
    return { desired: read.desired, rewritten };
  }

  /** A revision's files, validated, with messages naming files as the source does. */
  private async read(rev: RevisionInfo): Promise<ReadResult | undefined> {
    let checkout;
    try {
      checkout = await this.src.checkout(rev);
    } catch (e) {
      await this.report.raise({ reason: 'CheckoutFailed', severity: 'Error', message: `cannot read revision ${describeRev(rev)}: ${messageOf(e)}` }, { failure: true });
      return undefined;
    }
    await this.report.resolve('CheckoutFailed');
    const label = (file: string) => join(checkout.shownAs, relative(checkout.dir, file));
    const read = await this.opts.read(checkout.dir, label);
    if ('desired' in read) return read;
    // Messages about referenced files may name the folder they were read from.
    return { diagnostics: read.diagnostics.map((d) => ({ ...d, message: d.message.split(checkout.dir).join(checkout.shownAs) })) };
  }

  private async reject(rev: RevisionInfo, diagnostics: Diagnostic[], fresh: boolean): Promise<void> {
    const at = new Date().toISOString();
    for (const d of diagnostics) {
      this.log.error({ revision: rev.revision, file: d.file, line: d.line, column: d.column, resource: d.resource, field: d.field, code: d.code }, `${d.file}:${d.line}:${d.column}: ${d.resource ? `${d.resource}: ` : ''}${d.message}`);
    }
    const first = diagnostics[0]!;
    const where = `${first.file}${first.line ? `:${first.line}:${first.column}` : ''}${first.resource ? `: ${first.resource}` : ''}`;
    const kept = this.state.lastGood && this.state.lastGood.revision !== rev.revision ? `; revision ${describeRev(this.state.lastGood)} stays in force` : '; nothing applied';
    const message = `revision ${describeRev(rev)} is invalid (${plural(diagnostics.length, 'error')}; first: ${where}: ${first.message}): not applied${kept}`;
    this.lastAttempt = { ...rev, at, result: 'invalid', message, errors: diagnostics.slice(0, MAX_ERRORS_SHOWN) };
    await this.report.raise({ reason: 'InvalidRevision', severity: 'Error', message }, { failure: true });
    if (fresh) await this.report.audit('refuse-revision', rev, { errors: diagnostics.length, first: `${where}: ${first.message}` });
  }

  private async apply(rev: RevisionInfo, desired: Desired[], fresh: boolean, rewritten: boolean): Promise<void> {
    // Planned under the lock: what another apply writes meanwhile cannot make the plan stale.
    let lock;
    try {
      lock = await this.opts.lock(desired);
    } catch (e) {
      await this.report.raise({ reason: 'ApplyLocked', severity: 'Warning', message: `${messageOf(e)}; the next round tries again` }, { failure: true, notify: false });
      return;
    }
    try {
      await this.applyLocked(rev, desired, fresh, rewritten, lock.signal);
    } finally {
      await lock.release();
    }
  }

  private async applyLocked(rev: RevisionInfo, desired: Desired[], fresh: boolean, rewritten: boolean, lost: AbortSignal): Promise<void> {
    const started = Date.now();
    const { source } = this.opts;
    const plan: Plan = await makePlan(this.session, desired, { source, revision: rev.revision, allowMassDelete: this.opts.allowMassDelete });
    if (plan.problems.length) {
      if (fresh) this.rejected = rev.revision;
      const kept = fresh && this.state.lastGood ? `; revision ${describeRev(this.state.lastGood)} stays in force` : '';
      const message = `revision ${describeRev(rev)} cannot be applied: ${plan.problems.map((p) => p.message + (p.hint ? ` (${p.hint})` : '')).join('; ')}${kept}`;
      this.lastAttempt = { ...rev, at: new Date().toISOString(), result: 'refused', message };
      await this.report.raise({ reason: 'PlanRefused', severity: 'Error', message }, { failure: true });
      if (fresh) await this.report.audit('refuse-revision', rev, { problems: plan.problems.map((p) => p.message) });
      return;
    }
    const changes = hasChanges(plan);
    const recorded = fresh || this.state.partial?.revision === rev.revision || this.state.applied?.revision !== rev.revision;
    const total = plan.changes.length;
    try {
      if (recorded) {
        // Written before the first resource: a crash from here on is known at the next start.
        this.state = { ...this.state, lastGood: rev, partial: { ...rev, done: 0, total, at: new Date().toISOString() } };
        await saveRunState(this.session.store, source, this.state);
      }
      if (changes) this.log.info({ revision: rev.revision, resources: total }, `applying revision ${describeRev(rev)}`);
      this.applying = { ...rev, done: 0, total, startedAt: new Date().toISOString() };
      const results: ResourceResult[] = [];
      const result = await applyPlan(this.session, plan, {
        concurrency: this.opts.concurrency,
        actor: this.opts.actor,
        secrets: this.session.secrets,
        signal: AbortSignal.any([this.abort.signal, lost]),
        auditDetail: commitDetail(rev),
        held: (c) => {
          const failed = this.terminal.get(c.key);
          return failed?.input === inputOf(c) ? failed.result : undefined;
        },
        onResult: (r) => {
          results.push(r);
          if (r.state !== 'cancelled') this.applying!.done++;
          if (!r.held && r.state !== 'cancelled' && r.state !== 'blocked') {
            if (r.terminal) this.terminal.set(r.key, { input: inputOf(r.change), result: r });
            else this.terminal.delete(r.key);
          }
          if (!r.held && (r.state === 'done' || r.state === 'failed' || r.state === 'blocked')) {
            this.log[r.state === 'done' ? 'info' : 'warn']({ revision: rev.revision, resource: show(r.change.id), action: r.action ?? r.change.action, state: r.state, reason: r.reason }, `${show(r.change.id)}: ${r.state === 'done' ? (r.action ?? r.change.action) : `${r.state}: ${r.message}`}`);
          }
        },
      });
      const cancelled = result.results.filter((r) => r.state === 'cancelled').length;
      const failed = result.results.filter((r) => r.state === 'failed' || r.state === 'blocked').length;
      const done = total - cancelled;
      const at = new Date().toISOString();
      this.m.duration.observe((Date.now() - started) / 1000);
      if (cancelled) {
        this.state = { ...this.state, partial: { ...rev, done, total, at } };
        await saveRunState(this.session.store, source, this.state);
        this.m.applied.inc({ result: 'interrupted' });
        const why = lost.aborted ? `it ${(lost.reason as Error).message}` : 'mdmops stopped';
        const message = `revision ${describeRev(rev)} was partly applied when ${why}: ${done} of ${total} resources done, ${cancelled} not started; it is applied again at the next start`;
        this.lastAttempt = { ...rev, at, result: 'interrupted', message };
        await this.report.raise({ reason: 'ApplyInterrupted', severity: 'Warning', message });
        await this.report.audit('interrupt-revision', rev, { done, total });
        return;
      }
      if (recorded) {
        this.state = { lastGood: rev, applied: { ...rev, at } };
        await saveRunState(this.session.store, source, this.state);
        this.m.applied.inc({ result: 'complete' });
        await this.report.audit('apply-revision', rev, { changes: plan.changes.filter((c) => c.action !== 'no-op' || c.adopt || c.settings).length, failed, ...(rewritten ? { historyRewritten: true } : {}) });
        this.log.info({ revision: rev.revision, subject: rev.subject, failed }, `revision ${describeRev(rev)} applied${failed ? ` (${plural(failed, 'resource')} not applied: see status)` : ''}`);
      }
      if (this.state.applied) this.m.lastApplied.set(Date.parse(this.state.applied.at) / 1000);
      // A round that only keeps the revision in force is not an attempt at a new one.
      if (recorded) this.lastAttempt = { ...rev, at, result: 'applied', ...(failed ? { message: `${plural(failed, 'resource')} not applied` } : {}) };
      this.lastRound!.result = recorded ? 'applied' : changes ? 'corrected' : 'up-to-date';
      await this.report.resolve('ApplyInterrupted', 'ApplyLocked');
      if (fresh) await this.report.resolve('InvalidRevision', 'PlanRefused', ...(rewritten ? [] : ['HistoryRewritten']));
    } finally {
      this.applying = undefined;
    }
  }

  private async resourcesOfSource() {
    const inventory = await this.session.store.listInventory(this.opts.source);
    const mine = new Set(inventory.map((e) => `${e.tenant}/${e.kind}/${e.name}`));
    const records = await this.session.store.listRecords();
    return records.filter((r) => mine.has(`${r.tenant}/${r.kind}/${r.name}`));
  }

  private async countResources(): Promise<void> {
    const counts: Record<string, number> = { True: 0, False: 0, Unknown: 0 };
    for (const r of await this.resourcesOfSource()) counts[readyOf(r.status)?.status ?? 'Unknown']!++;
    for (const [ready, n] of Object.entries(counts)) this.m.resources.set(n, { ready });
  }

  /** GET /status. */
  async status(): Promise<Record<string, unknown>> {
    const { resources, summary } = statusLines(await this.resourcesOfSource());
    return {
      mode: this.src.mode,
      source: this.opts.source,
      ...this.src.describe(),
      ready: this.notReady() === undefined,
      head: this.head ?? null,
      lastGood: this.state.lastGood ?? null,
      applied: this.state.applied ?? null,
      partial: this.state.partial ?? null,
      applying: this.applying ?? null,
      lastRound: this.lastRound ?? null,
      lastAttempt: this.lastAttempt ?? null,
      lastError: this.report.lastError ?? null,
      problems: this.report.problems(),
      summary,
      resources,
    };
  }
}
