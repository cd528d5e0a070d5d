// A plan as text (for a terminal), JSON (for programs; documented in the README) and Markdown
// (for a pull-request comment).
import { formatDiff, formatValue, type FieldDiff } from '../engine/diff.js';
import { show, showKey } from '../engine/context.js';
import type { Action, Change, Plan } from '../engine/plan.js';

export const PLAN_FORMAT_VERSION = 1;

const ORDER: Action[] = ['create', 'update', 'replace', 'delete', 'orphan', 'no-op'];

/** Taking a record back, or recording policy settings alone, counts as an update. */
export const counted = (c: Change): Action => (c.action === 'no-op' && (c.adopt || c.settings) ? 'update' : c.action);

export function summarize(plan: Plan): Record<Action, number> {
  const counts = Object.fromEntries(ORDER.map((a) => [a, 0])) as Record<Action, number>;
  for (const c of plan.changes) counts[counted(c)]++;
  return counts;
}

/** Worth showing: anything that changes, drifts, or is taken back. */
const shown = (c: Change) => c.action !== 'no-op' || c.adopt || c.settings || (c.observeOnly && (c.diffs.length > 0 || !c.record));

const SYMBOL: Record<Action, string> = { create: '+', update: '~', replace: '-/+', delete: '-', orphan: '-', 'no-op': '!' };

function headline(c: Change): string {
  const notes: string[] = [];
  if (c.action === 'replace') notes.push(`replace: ${c.replaceFields.join(', ')} cannot change in place`);
  // Only a resource that made its own key (a local or intermediate CA) keeps key material.
  else if (c.action === 'orphan') notes.push(`orphan: kept in the tenant${c.record?.status.publicKeySha256 ? ' with its key material' : ''}, no longer managed`);
  else if (c.observeOnly && !c.record) notes.push('not found in the tenant; managementPolicy Observe creates nothing');
  else if (c.observeOnly) notes.push(c.diffs.length ? 'drift reported, not corrected: managementPolicy Observe' : 'policy settings recorded; managementPolicy Observe');
  else if (c.suspended) notes.push('suspended: only its policy settings are recorded');
  else if (c.adopt && c.action === 'no-op') notes.push('adopt');
  else notes.push(c.action);
  if (c.drift && !c.observeOnly) notes.push('drift: edited in the tenant, will be corrected');
  if (c.adopt && c.action !== 'no-op') notes.push('adopt');
  return `${SYMBOL[c.action]} ${show(c.id)} (${notes.join('; ')})`;
}

function summaryLine(plan: Plan): string {
  const n = summarize(plan);
  return `Plan: ${n.create} to create, ${n.update} to update, ${n.replace} to replace, ${n.delete} to delete, ${n.orphan} to orphan, ${n['no-op']} unchanged.`;
}

export function planText(plan: Plan, colour: boolean): string {
  const paint = (code: number, s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const tint: Record<Action, number> = { create: 32, update: 33, replace: 35, delete: 31, orphan: 31, 'no-op': 36 };
  const lines: string[] = [];
  for (const p of plan.problems) lines.push(paint(31, `error: ${p.message}`), ...(p.hint ? [`  hint: ${p.hint}`] : []));
  if (plan.problems.length) lines.push('');
  for (const c of plan.changes.filter(shown)) {
    lines.push(paint(tint[c.action], headline(c)));
    for (const d of c.diffs) lines.push(`    ${paint(d.masked ? 33 : d.before === undefined ? 32 : d.after === undefined ? 31 : 33, formatDiff(d))}`);
    for (const i of c.impact) lines.push(`    impact: ${i}`);
    if (c.dependents.length && c.action !== 'create') lines.push(`    dependents: ${c.dependents.join(', ')}`);
  }
  lines.push(...suspendedLine(plan));
  if (lines.length) lines.push('');
  if (plan.problems.length) lines.push(`${summaryLine(plan)} Not applicable: ${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'} above.`);
  else lines.push(plan.changes.some(shown) ? summaryLine(plan) : `No changes: ${plan.changes.length} resource${plan.changes.length === 1 ? '' : 's'} up to date.`);
  return lines.join('\n') + '\n';
}

/**
 * The plan in brief, for an apply that does not ask first: what it does to how many of each kind,
 * and in full only the changes a reviewer must not miss (a replacement, a deletion, an orphan, an
 * Observe or adopted resource, or one with an impact), not every field of every new resource.
 */
export function planSummaryText(plan: Plan, colour: boolean): string {
  if (plan.problems.length || !plan.changes.some(shown)) return planText(plan, colour);
  const notable = (c: Change) => c.action === 'replace' || c.action === 'delete' || c.action === 'orphan' || c.observeOnly || c.adopt || c.settings || c.impact.length > 0;
  const lines: string[] = [];
  for (const c of plan.changes.filter((x) => shown(x) && notable(x))) {
    lines.push(headline(c));
    for (const i of c.impact) lines.push(`    impact: ${i}`);
  }
  const byAction = new Map<Action, Map<string, number>>();
  for (const c of plan.changes.filter((x) => shown(x) && x.action !== 'no-op')) {
    const kinds = byAction.get(c.action) ?? new Map<string, number>();
    kinds.set(c.id.kind, (kinds.get(c.id.kind) ?? 0) + 1);
    byAction.set(c.action, kinds);
  }
  for (const [action, kinds] of byAction) lines.push(`  ${action}: ${[...kinds].map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
  lines.push(...suspendedLine(plan));
  lines.push('', `${summaryLine(plan)} Field by field: mdmops plan, or apply --show-plan.`);
  return lines.join('\n') + '\n';
}

function suspendedLine(plan: Plan): string[] {
  const suspended = plan.changes.filter((c) => c.suspended);
  return suspended.length ? [`suspended, left alone: ${suspended.map((c) => show(c.id)).join(', ')}`] : [];
}

function diffJson(d: FieldDiff) {
  return d.masked ? { path: d.path, masked: d.masked } : { path: d.path, before: d.before ?? null, after: d.after ?? null };
}

export function planJson(plan: Plan): unknown {
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    source: plan.source,
    revision: plan.revision,
    hasChanges: plan.changes.some(shown),
    summary: summarize(plan),
    problems: plan.problems.map((p) => ({ resource: p.key ? showKey(p.key) : null, message: p.message, hint: p.hint ?? null })),
    changes: plan.changes.map((c) => ({
      resource: show(c.id),
      kind: c.id.kind,
      tenant: c.id.tenant,
      name: c.id.name,
      action: c.action,
      drift: c.drift,
      observeOnly: c.observeOnly,
      suspended: c.suspended,
      adopt: c.adopt,
      settings: c.settings,
      diffs: c.diffs.map(diffJson),
      replaceFields: c.replaceFields,
      impact: c.impact,
      dependents: c.dependents,
      file: c.desired?.origin?.file ?? null,
      line: c.desired?.origin?.line ?? null,
    })),
  };
}


export function planMarkdown(plan: Plan, title = 'mdmops plan'): string {
  const n = summarize(plan);
  const out: string[] = [`### ${title}`, ''];
  out.push(`Source \`${plan.source}\`, revision \`${plan.revision}\`.`, '');
  if (plan.problems.length) {
    out.push('**This plan cannot be applied:**', '');
    for (const p of plan.problems) out.push(`- ${escape(p.message)}${p.hint ? ` (${escape(p.hint)})` : ''}`);
    out.push('');
  }
  out.push('| create | update | replace | delete | orphan | unchanged |', '|---:|---:|---:|---:|---:|---:|');
  out.push(`| ${n.create} | ${n.update} | ${n.replace} | ${n.delete} | ${n.orphan} | ${n['no-op']} |`, '');
  for (const c of plan.changes.filter(shown)) {
    out.push('<details>', `<summary><code>${escape(headline(c))}</code></summary>`, '');
    if (c.diffs.length) out.push('```diff');
    for (const d of c.diffs) {
      if (d.masked) out.push(`  ${d.path}: (${d.masked})`);
      else {
        if (d.before !== undefined) out.push(`- ${d.path}: ${formatValue(d.before)}`);
        if (d.after !== undefined) out.push(`+ ${d.path}: ${formatValue(d.after)}`);
      }
    }
    if (c.diffs.length) out.push('```');
    for (const i of c.impact) out.push('', `Impact: ${escape(i)}`);
    if (c.dependents.length && c.action !== 'create') out.push('', `Dependents: ${c.dependents.map((d) => `\`${d}\``).join(', ')}`);
    out.push('', '</details>', '');
  }
  if (!plan.changes.some(shown)) out.push(`No changes: ${plan.changes.length} resources up to date.`);
  return out.join('\n') + '\n';
}

const escape = (s: string) => s.replace(/[<>&]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[ch]!);
