// mdmops apply -f PATH: validate everything, show the plan, and make the tenant match it.
import type { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { parseDuration, DAY } from '../api/duration.js';
import { applyPlan, type ApplyResult, type ResourceResult } from '../engine/apply.js';
import { show } from '../engine/context.js';
import { hasChanges, makePlan, type Change } from '../engine/plan.js';
import { ApplyLockHeld, takeApplyLocks, type ApplyLock } from '../store/apply-lock.js';
import { UserError } from './errors.js';
import { wholeNumber } from './flags.js';
import { planSummaryText, planText } from './plan-format.js';
import { progressLine } from './progress.js';
import { colourWanted, planFor, planOptions, type PlanOptions } from './plan.js';
import type { ValidationResult } from '../config/validate.js';
import { checkInput, loadInput } from './input.js';
import { actor, openSession, type Session } from './session.js';

interface ApplyOptions extends PlanOptions {
  autoApprove?: boolean;
  showPlan?: boolean;
  wait?: boolean | string;
  concurrency: string;
  color?: boolean;
}

const PAST: Record<string, string> = { create: 'created', update: 'updated', replace: 'replaced', delete: 'deleted', orphan: 'orphaned', 'no-op': 'adopted' };

export function registerApply(program: Command) {
  planOptions(program.command('apply').description('Validate the whole configuration, show the plan, and apply it to the tenant store.'))
    .option('--auto-approve', 'apply without asking (needed when not on a terminal); the plan is then told in brief')
    .option('--show-plan', 'with --auto-approve, show the whole plan, field by field')
    .option('--wait [duration]', 'after applying, wait until every resource is Ready (default 5m); exit 1 if one is not')
    .option('--concurrency <n>', 'resources applied at once', '8')
    .option('--no-color', 'plain text even on a terminal')
    .addHelpText('after', '\nExamples:\n  mdmops apply -f examples/tenant\n  mdmops apply -f config/ --auto-approve --wait=2m')
    .action(async (opts: ApplyOptions) => {
      const concurrency = wholeNumber('--concurrency', opts.concurrency);
      const waitMs = opts.wait === undefined ? undefined : waitDuration(opts.wait);
      const checked = checkInput(opts.filename);
      const session = await openSession(opts);
      try {
        const lock = await applyLock(session, opts.source, checked.resources.map((v) => v.resource.metadata.namespace ?? 'default'));
        try {
          process.exitCode = await apply(session, opts, checked, concurrency, waitMs, lock.signal);
        } finally {
          await lock.release();
        }
      } finally {
        await session.close();
      }
    });
}

/**
 * The apply locks of every tenant the source touches: those of its input, and those it applied
 * before (a prune writes there too). Planned and applied under them.
 */
export async function applyLock(session: Session, source: string, inputTenants: string[]): Promise<ApplyLock> {
  const applied = (await session.store.listInventory(source)).map((e) => e.tenant);
  try {
    return await takeApplyLocks(session.store, [...inputTenants, ...applied]);
  } catch (e) {
    if (e instanceof ApplyLockHeld) throw new UserError(`${e.message}: try again when it has finished`);
    throw e;
  }
}

/** Stops a command whose lock was taken from it (it stalled past the lock's time): it writes no more. */
export function stopIfLockLost(signal: AbortSignal): void {
  if (signal.aborted) throw new UserError((signal.reason as Error).message);
}

const MAX_WAIT_MS = DAY;

function waitDuration(wait: boolean | string): number {
  if (wait === true) return 5 * 60_000;
  let ms: number;
  try {
    ms = parseDuration(String(wait));
  } catch {
    throw new UserError(`--wait=${wait}: expected a duration such as 90s, 5m or 1h`);
  }
  if (ms > MAX_WAIT_MS) throw new UserError(`--wait=${wait}: at most 24h`);
  return ms;
}

async function apply(session: Session, opts: ApplyOptions, checked: ValidationResult, concurrency: number, waitMs: number | undefined, signal: AbortSignal): Promise<number> {
  const out = process.stdout;
  const plan = await planFor(session, opts, checked);
  const changes = hasChanges(plan);
  // Asked to confirm, the whole plan is shown; applied without asking, it is told in brief.
  const asks = changes && !opts.autoApprove;
  if (changes || plan.problems.length) out.write((asks || opts.showPlan ? planText : planSummaryText)(plan, colourWanted(out, opts.color)));
  if (plan.problems.length) throw new UserError('nothing was applied: the plan has problems');
  if (changes && !opts.autoApprove) {
    if (!process.stdin.isTTY || !out.isTTY) throw new UserError('apply asks for confirmation on a terminal; elsewhere add --auto-approve');
    const rl = createInterface({ input: process.stdin, output: out });
    const answer = await rl.question(`\nApply these changes to the tenant store at ${session.store.location}? Only "yes" applies: `).catch(() => undefined); // Ctrl-C or end of input
    rl.close();
    if (answer?.trim() !== 'yes') {
      out.write(`${answer === undefined ? '\n' : ''}Nothing applied.\n`);
      return answer === undefined ? 130 : 1;
    }
  }

  const progress = progressReporter(plan.changes.length);
  const result = await applyPlan(session, plan, { concurrency, actor: actor(), secrets: session.secrets, signal, onResult: progress.onResult, onProgress: progress.onProgress });
  progress.end();
  report(result, changes);
  let failed = result.results.filter((r) => r.state === 'failed' || r.state === 'blocked').length;
  if (failed) return 1;
  stopIfLockLost(signal);
  if (waitMs !== undefined) failed = await waitReady(session, opts, concurrency, result, waitMs, signal);
  return failed ? 1 : 0;
}

/**
 * A line per resource that changed or failed. On a terminal, also one line redrawn in place, at
 * most ten times a second: how many resources are done (when there are many), and how far a
 * resource's long work is (identity certificates issued).
 */
function progressReporter(total: number) {
  const terminal = process.stderr.isTTY === true;
  const begun = new Map<string, number>();
  let last = 0;
  let drawn = false;
  const due = () => terminal && Date.now() - last >= 100;
  const draw = (text: string) => {
    last = Date.now();
    drawn = true;
    process.stderr.write(`\r${text.slice(0, (process.stderr.columns || 80) - 1)}\x1b[K`);
  };
  const clear = () => {
    if (drawn) process.stderr.write('\r\x1b[K');
    drawn = false;
  };
  return {
    onResult(r: ResourceResult, done: number) {
      if (r.state === 'done' || r.state === 'failed' || r.state === 'blocked') {
        clear();
        process.stdout.write(`${line(r)}\n`);
      }
      if (total > 20 && (due() || (terminal && done === total))) draw(`[${done}/${total}] ${show(r.change.id)}`);
    },
    onProgress(c: Change, done: number, of: number, unit: string) {
      if (!begun.has(c.key)) begun.set(c.key, Date.now());
      if (due()) draw(progressLine(`${show(c.id)}:`, done, of, Date.now() - begun.get(c.key)!, { unit, estimated: false }));
    },
    end: clear,
  };
}

function line(r: ResourceResult): string {
  const name = show(r.change.id);
  if (r.state === 'failed') return `x ${name}: failed: ${r.message}`;
  if (r.state === 'blocked') return `x ${name}: not applied: ${r.message}`;
  return `${name} ${PAST[r.action ?? r.change.action]}${r.ready === false ? ` (not Ready: ${r.reason})` : ''}`;
}

function report(result: ApplyResult, changed: boolean) {
  const n = (state: string, action?: string) => result.results.filter((r) => r.state === state && (!action || r.change.action === action)).length;
  const out = process.stdout;
  if (changed) {
    out.write(`\nApply complete: ${n('done', 'create')} created, ${n('done', 'update') + n('done', 'no-op')} updated, ${n('done', 'replace')} replaced, ${n('done', 'delete')} deleted, ${n('done', 'orphan')} orphaned, ${n('unchanged')} unchanged.\n`);
  } else {
    out.write(`No changes: ${result.results.length} resource${result.results.length === 1 ? '' : 's'} up to date.\n`);
  }
  const skipped = result.results.filter((r) => r.state === 'skipped');
  if (skipped.length && !changed) out.write(`suspended, left alone: ${skipped.map((r) => show(r.change.id)).join(', ')}\n`);
  const failed = n('failed') + n('blocked');
  if (failed) out.write(`${failed} resource${failed === 1 ? '' : 's'} not applied (see above).\n`);
  const waiting = notReady(result);
  if (waiting.length) {
    out.write(`\nNot Ready (${waiting.length}):\n`);
    for (const r of waiting) out.write(`  ${show(r.change.id)}: ${r.reason}: ${r.message}\n`);
    out.write('See `mdmops notifications` and `mdmops status`.\n');
  }
}

const notReady = (result: ApplyResult) => result.results.filter((r) => r.ready === false && r.state !== 'failed' && r.state !== 'blocked');

/** Observes again with backoff until everything is Ready or time runs out. Returns how many are not. */
async function waitReady(session: Session, opts: ApplyOptions, concurrency: number, first: ApplyResult, waitMs: number, signal: AbortSignal): Promise<number> {
  const deadline = Date.now() + waitMs;
  let waiting = notReady(first);
  let delay = 1000;
  while (waiting.length) {
    if (Date.now() >= deadline) {
      process.stdout.write(`\nTimed out after ${opts.wait === true ? '5m' : opts.wait}: ${waiting.length} not Ready: ${waiting.map((r) => show(r.change.id)).join(', ')}\n`);
      return waiting.length;
    }
    process.stderr.write(`waiting for ${waiting.length} resource${waiting.length === 1 ? '' : 's'} to become Ready...\n`);
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 15_000);
    stopIfLockLost(signal);
    const input = await loadInput(checkInput(opts.filename), session);
    const plan = await makePlan(session, input.desired, { source: opts.source, revision: opts.revision ?? input.digest, allowMassDelete: opts.allowMassDelete });
    // What changed while waiting (a secret put in place, say) is applied too: it is this configuration.
    if (plan.problems.length) throw new UserError('the configuration changed while waiting and its plan has problems: nothing more was applied');
    const result = await applyPlan(session, plan, { concurrency, actor: actor(), secrets: session.secrets, signal });
    stopIfLockLost(signal);
    for (const r of result.results) if (r.state === 'done' || r.state === 'failed') process.stdout.write(`${line(r)}\n`);
    waiting = notReady(result);
  }
  process.stdout.write('All resources Ready.\n');
  return 0;
}
