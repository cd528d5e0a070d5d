// The console's pages, from what the store holds, through the same views as the CLI's status and
// notifications. Pure: each takes the data and the request's parameters, and returns HTML.
import { stringify } from 'yaml';
import { recordReferences, show } from '../../engine/context.js';
import { conditionOf, readySummary, type Condition } from '../../api/condition.js';
import { resourceView } from '../../engine/views.js';
import { idKey } from '../../config/desired.js';
import type { FieldDiff } from '../../engine/diff.js';
import { RECORD_SORTS, type AuditEntry, type InventoryEntry, type Notification, type RecordQuery, type RecordSort, type RecordSummary, type StoredRecord, type SyncHistoryEntry } from '../../store/types.js';
import { Html, html, query } from './html.js';
import { resourcePath } from './paths.js';
import { roleName, type Role } from './tokens.js';

export interface Viewer {
  name: string;
  role: Role;
  csrf: string;
}

export const PAGE_SIZE = 50;


export function layout(title: string, viewer: Viewer | undefined, body: Html): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · mdmops</title><link rel="stylesheet" href="/ui/static/console.css">${viewer ? html`<script src="/ui/static/live.js" defer></script>` : ''}</head>
<body>
<header><a class="brand" href="/ui/">mdmops</a>${
    viewer
      ? html`<nav><a href="/ui/">Overview</a><a href="/ui/resources">Resources</a><a href="/ui/notifications">Notifications</a><a href="/ui/certificates">Certificates</a><a href="/ui/distribution">Distribution</a><a href="/ui/users">Users</a><a href="/ui/connectors">Connectors</a><a href="/ui/core-sync">Core sync</a></nav>
<form method="post" action="/ui/sign-out" class="who"><span>${viewer.name} (${roleName(viewer.role)})</span><input type="hidden" name="csrf" value="${viewer.csrf}"><button>Sign out</button></form>`
      : ''
  }</header>
<main><h1>${title}</h1>${body}</main>
</body></html>
`.text;
}

export function signInPage(csrf: string, error?: string): string {
  return layout(
    'Sign in',
    undefined,
    html`${error ? html`<p class="error">${error}</p>` : ''}
<form method="post" action="/ui/sign-in" class="sign-in">
<input type="hidden" name="csrf" value="${csrf}">
<label for="token">Console token</label>
<input id="token" name="token" type="password" autocomplete="off" required>
<button>Sign in</button>
<p class="hint">An administrator makes one with <code>mdmops console token --role manager|read-only</code>; in a cluster, a Kubernetes token (<code>kubectl create token NAME</code>) signs in too.</p>
</form>`,
  );
}

const readyText = (r: StoredRecord) => readySummary(r.status).ready;

export interface RecordCounts {
  byKindReady: { kind: string; ready: string; count: number }[];
  kinds: string[];
  tenants: string[];
}

export function overviewPage(viewer: Viewer, counts: RecordCounts, sources: StoredRecord[], latest: Notification[], active: number): string {
  const count = (kind: string, ready: string) => counts.byKindReady.find((c) => c.kind === kind && c.ready === ready)?.count ?? 0;
  return layout(
    'Overview',
    viewer,
    html`<section id="kinds" data-live><h2>Resources</h2>
<table><thead><tr><th>Kind</th><th>Ready</th><th>Not ready</th><th>Unknown</th></tr></thead><tbody>
${counts.kinds.map(
  (k) => html`<tr><td><a href="/ui/resources${query({ kind: k })}">${k}</a></td><td>${count(k, 'True')}</td><td><a href="/ui/resources${query({ kind: k, ready: 'False' })}">${count(k, 'False')}</a></td><td>${count(k, 'Unknown')}</td></tr>`,
)}
</tbody></table>
${counts.kinds.length ? '' : html`<p>The tenant store is empty: apply a configuration first.</p>`}</section>
<section id="active-notifications" data-live><h2>Active notifications (${active})</h2>${notificationTable(latest)}${active > latest.length ? html`<p><a href="/ui/notifications">all ${active} active</a> (the newest ${latest.length} above)</p>` : ''}</section>
<section id="sources" data-live><h2>Sources</h2>
<table><thead><tr><th>Source</th><th>Last sync</th><th>Users</th><th>Last error</th></tr></thead><tbody>
${sources.map((r) => html`<tr><td><a href="${resourcePath(r)}">${show(r)}</a></td><td>${String(r.status.lastSyncTime ?? '')}</td><td>${String(r.status.userCount ?? '')}</td><td>${String(r.status.lastError ?? '')}</td></tr>`)}
</tbody></table></section>`,
  );
}

function notificationTable(list: Notification[]): Html {
  if (!list.length) return html`<p>None.</p>`;
  return html`<table><thead><tr><th>Severity</th><th>Resource</th><th>Reason</th><th>Message</th><th>Count</th><th>First seen</th><th>Last seen</th></tr></thead><tbody>
${list.map(
  (n) => html`<tr class="${n.severity.toLowerCase()}"><td>${n.severity}</td><td><a href="${resourcePath(n)}">${show(n)}</a></td><td>${n.reason}</td><td>${n.message}</td><td>${n.count}</td><td>${n.firstSeen}</td><td>${n.lastSeen}</td></tr>`,
)}
</tbody></table>`;
}

export function notificationsPage(viewer: Viewer, list: Notification[], all: boolean): string {
  return layout(
    all ? 'All notifications' : 'Active notifications',
    viewer,
    html`<div id="notifications" data-live><p>${list.length} ${all ? 'in all' : 'active'} · <a href="/ui/notifications${all ? '' : '?all=1'}">${all ? 'active only' : 'show all'}</a></p>${notificationTable(list)}</div>`,
  );
}

export interface ResourceFilter extends RecordQuery {
  page: number;
}

/** The filter a query string asks for; an unknown sort is the default one. */
export function resourceFilter(p: URLSearchParams): ResourceFilter {
  const sort = p.get('sort') ?? '';
  const given = (name: string) => p.get(name) || undefined;
  return { kind: given('kind'), tenant: given('tenant'), ready: given('ready'), reason: given('reason'), text: given('q'), sort: (RECORD_SORTS as readonly string[]).includes(sort) ? (sort as RecordSort) : undefined, page: Math.max(1, Number(p.get('page')) || 1) };
}

export function resourcesPage(viewer: Viewer, rows: RecordSummary[], total: number, counts: RecordCounts, f: ResourceFilter): string {
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const page = Math.min(f.page, pages);
  const params = { kind: f.kind, tenant: f.tenant, ready: f.ready, reason: f.reason, q: f.text, sort: f.sort };
  const option = (value: string, current: string | undefined, label = value) => html`<option value="${value}"${value === (current ?? '') ? html` selected` : ''}>${label}</option>`;
  const sortLink = (key: string, label: string) => html`<a href="/ui/resources${query({ ...params, sort: key })}">${label}</a>`;
  return layout(
    'Resources',
    viewer,
    html`<form method="get" action="/ui/resources" class="filters">
<select name="kind" aria-label="Kind">${option('', f.kind, 'every kind')}${counts.kinds.map((k) => option(k, f.kind))}</select>
<select name="tenant" aria-label="Tenant">${option('', f.tenant, 'every tenant')}${counts.tenants.map((t) => option(t, f.tenant))}</select>
<select name="ready" aria-label="Ready">${option('', f.ready, 'any Ready')}${['True', 'False', 'Unknown'].map((v) => option(v, f.ready))}</select>
<input name="reason" placeholder="reason" value="${f.reason ?? ''}" aria-label="Reason">
<input name="q" placeholder="text" value="${f.text ?? ''}" aria-label="Text">
<input type="hidden" name="sort" value="${f.sort ?? ''}">
<button>Filter</button> <a href="/ui/resources.csv${query(params)}">CSV</a>
</form>
<div id="resource-rows" data-live><p class="count">${total} resource${total === 1 ? '' : 's'}${pages > 1 ? ` · page ${page} of ${pages}` : ''}</p>
<table><thead><tr><th>${sortLink('resource', 'Resource')}</th><th>${sortLink('ready', 'Ready')}</th><th>${sortLink('reason', 'Reason')}</th><th>Message</th><th>${sortLink('updated', 'Updated')}</th></tr></thead><tbody>
${rows.map((r) => html`<tr><td><a href="${resourcePath(r)}">${show(r)}</a></td><td>${r.ready}</td><td>${r.reason}</td><td>${r.ready === 'True' ? '' : r.message}</td><td>${r.updatedAt}</td></tr>`)}
</tbody></table></div>
<nav class="pager">${page > 1 ? html`<a rel="prev" href="/ui/resources${query({ ...params, page: page - 1 })}">previous</a>` : ''} ${page < pages ? html`<a rel="next" href="/ui/resources${query({ ...params, page: page + 1 })}">next</a>` : ''}</nav>`,
  );
}

const csvCell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
/** A cell a spreadsheet would take for a formula is quoted as text. */
const csvText = (v: string) => csvCell(/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
export const RESOURCES_CSV_HEADER = 'tenant,kind,name,ready,reason,message,updated\r\n';
/** Lines of the CSV export of the filtered rows, one a row. */
export const resourcesCsvLines = (rows: RecordSummary[]) => rows.map((r) => [r.tenant, r.kind, r.name, r.ready, r.reason, r.message, r.updatedAt].map(csvText).join(',') + '\r\n').join('');

/** Masks values whose field names say they are secret; refs to secrets stay (they name, not hold). */
export function masked(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => masked(v, key));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, k.endsWith('Ref') ? v : masked(v, k)]));
  return typeof value === 'string' && /secret|password|passphrase|privatekey|token|pkcs12|challenge/i.test(key) ? '********' : value;
}

/** A field's value in a table cell: absent said so, anything else as compact JSON. */
const fieldText = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));

export interface ResourceDetail {
  record: StoredRecord;
  inventory?: InventoryEntry;
  notifications: Notification[];
  audit: AuditEntry[];
  referencedBy: StoredRecord[];
  /** Whether its kind syncs (identity sources, SQL provisioning): a manager may sync it now. */
  syncs: boolean;
  /** Its last syncs, oldest first (identity sources). */
  syncHistory: SyncHistoryEntry[];
  /** Fields edited in the tenant since mdmops applied it (masked as the spec is). */
  drift: FieldDiff[];
}

export function resourcePage(viewer: Viewer, d: ResourceDetail): string {
  const r = d.record;
  const view = resourceView(r, d.inventory);
  const conditions = (r.status.conditions ?? []) as Condition[];
  const { conditions: _c, ...status } = r.status;
  const refs = recordReferences(r);
  // Keys are Kind/tenant/name (idKey).
  const link = (key: string) => {
    const [kind, tenant, ...name] = key.split('/');
    const id = { tenant: tenant!, kind: kind!, name: name.join('/') };
    return html`<li><a href="${resourcePath(id)}">${show(id)}</a></li>`;
  };
  const syncs = conditionOf(r.status, 'Ready');
  return layout(
    show(r),
    viewer,
    html`<p>Ready: <strong>${syncs?.status ?? 'Unknown'}</strong>${syncs?.reason ? ` (${syncs.reason})` : ''} · ${r.managed ? 'managed' : 'not managed'}${view.source ? ` · from ${view.source} ${view.revision ?? ''}` : ''}</p>
${viewer.role === 'manager' && d.syncs ? html`<form method="post" action="${resourcePath(r)}/sync"><input type="hidden" name="csrf" value="${viewer.csrf}"><button>Sync now</button></form>` : ''}
${d.syncHistory.length ? html`<section id="sync-history" data-live><h2>Syncs</h2>${syncCharts(d.syncHistory)}</section>` : ''}
${d.drift.length ? html`<section id="drift"><h2>Drift</h2><p>Edited in the tenant since mdmops applied it${r.spec.managementPolicy === 'Observe' ? ' (managementPolicy Observe: reported, not corrected)' : ': the next apply puts it back'}.</p><table><thead><tr><th>Field</th><th>Applied</th><th>Now</th></tr></thead><tbody>
${d.drift.map((x) => html`<tr><td>${x.path}</td><td>${fieldText(x.before)}</td><td>${fieldText(x.after)}</td></tr>`)}
</tbody></table></section>` : ''}
<section><h2>Conditions</h2><table><thead><tr><th>Type</th><th>Status</th><th>Reason</th><th>Message</th><th>Since</th></tr></thead><tbody>
${conditions.map((c) => html`<tr><td>${c.type}</td><td>${c.status}</td><td>${c.reason}</td><td>${c.message}</td><td>${c.lastTransitionTime}</td></tr>`)}
</tbody></table></section>
<section><h2>Spec</h2><pre>${stringify(masked(r.spec))}</pre></section>
<section><h2>Status</h2><pre>${stringify(masked(status))}</pre></section>
<section><h2>References</h2><ul>${refs.map(link)}</ul><h3>Referenced by</h3><ul>${d.referencedBy.map((b) => link(idKey(b)))}</ul></section>
<section><h2>Notifications</h2>${notificationTable(d.notifications)}</section>
<section><h2>History</h2><table><thead><tr><th>When</th><th>Action</th><th>By</th><th>Source</th></tr></thead><tbody>
${d.audit.map((a) => html`<tr><td>${a.at}</td><td>${a.action}</td><td>${a.actor}</td><td>${a.source} ${a.revision}</td></tr>`)}
</tbody></table></section>`,
  );
}

const cell = (v: unknown) => (v instanceof Html ? v : String(v ?? ''));

/** A table of records of one kind, each row its link and the status fields named. */
function kindTable(records: StoredRecord[], columns: [string, (r: StoredRecord) => unknown][]): Html {
  if (!records.length) return html`<p>None.</p>`;
  return html`<table><thead><tr><th>Resource</th><th>Ready</th>${columns.map(([h]) => html`<th>${h}</th>`)}</tr></thead><tbody>
${records.map((r) => html`<tr><td><a href="${resourcePath(r)}">${show(r)}</a></td><td>${readyText(r)}</td>${columns.map(([, f]) => html`<td>${cell(f(r))}</td>`)}</tr>`)}
</tbody></table>`;
}

export function connectorsPage(viewer: Viewer, connectors: StoredRecord[], collection: (r: StoredRecord) => { state: string; name?: string; size?: number; error?: string } | undefined, gatewayHere: boolean): string {
  const s = (r: StoredRecord) => r.status as Record<string, unknown>;
  const base = (r: StoredRecord) => `/ui/connectors/${encodeURIComponent(r.tenant)}/${encodeURIComponent(r.name)}/logs`;
  const logs = (r: StoredRecord) => {
    const c = collection(r) ?? (s(r).logCollection as { state: string; size?: number; error?: string } | undefined);
    const state = c ? html`<span class="logs-state">${c.state}${c.error ? `: ${c.error}` : ''}</span>` : '';
    if (viewer.role !== 'manager' || !gatewayHere || !s(r).connected) return state;
    const act = (what: string, label: string) => html`<form method="post" action="${base(r)}" class="inline"><input type="hidden" name="csrf" value="${viewer.csrf}"><input type="hidden" name="do" value="${what}"><button>${label}</button></form>`;
    return html`${state} ${c?.state === 'collecting' ? act('cancel', 'Cancel') : act('request', 'Collect logs')} ${c?.state === 'ready' ? html`<a href="${base(r)}.zip">download${c.size ? ` (${c.size} bytes)` : ''}</a>` : ''}`;
  };
  return layout(
    'Connectors',
    viewer,
    html`<div id="connectors" data-live>${kindTable(connectors, [
      ['Connected', (r) => (s(r).connected ? 'yes' : 'no')],
      ['Version', (r) => s(r).version],
      ['Host', (r) => s(r).hostname],
      ['Last heartbeat', (r) => s(r).lastHeartbeat],
      ['Log level', (r) => `${String(s(r).effectiveLogLevel ?? '')}${s(r).logLevelRevertsAt ? ` (reverts ${String(s(r).logLevelRevertsAt)})` : ''}`],
      ['Logs', logs],
    ])}</div>`,
  );
}

export function coreSyncPage(viewer: Viewer, targets: StoredRecord[]): string {
  const s = (r: StoredRecord) => r.status as Record<string, unknown>;
  return layout(
    'Core-sync targets',
    viewer,
    html`${kindTable(targets, [
      ['Trusted', (r) => (s(r).trusted ? 'yes' : 'no')],
      ['Presents (SHA-256)', (r) => s(r).presentedCertificateSha256],
      ['Last sync', (r) => s(r).lastSyncTime],
      ['Result', (r) => s(r).lastSyncResult],
      ['Generation', (r) => s(r).generation],
    ])}
<p class="hint">Review the certificate a target presents before its pin is committed: <code>mdmops core-sync trust CoreSyncTarget/NAME</code>.</p>`,
  );
}

export interface UserRow {
  source: string;
  upn: string;
  email?: string;
  displayName?: string;
  groups: string[];
  appleId?: string;
  attributes: Record<string, unknown>;
}

export function usersPage(viewer: Viewer, users: UserRow[], total: number, f: { tenant?: string; q?: string; page: number; pages: number }): string {
  const params = { tenant: f.tenant, q: f.q };
  return layout(
    'Users',
    viewer,
    html`<form method="get" action="/ui/users" class="filters"><input name="tenant" placeholder="tenant" value="${f.tenant ?? ''}" aria-label="Tenant"><input name="q" placeholder="text" value="${f.q ?? ''}" aria-label="Text"><button>Filter</button></form>
<p class="count">${total} user${total === 1 ? '' : 's'}${f.pages > 1 ? ` · page ${f.page} of ${f.pages}` : ''}</p>
<table><thead><tr><th>User</th><th>Source</th><th>Email</th><th>Name</th><th>Groups</th><th>Apple ID</th><th>Attributes</th></tr></thead><tbody>
${users.map((u) => html`<tr><td>${u.upn}</td><td>${u.source}</td><td>${u.email}</td><td>${u.displayName}</td><td>${u.groups.join(', ')}</td><td>${u.appleId}</td><td>${Object.entries(u.attributes).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('|') : String(v)}`).join(', ')}</td></tr>`)}
</tbody></table>
<nav class="pager">${f.page > 1 ? html`<a rel="prev" href="/ui/users${query({ ...params, page: f.page - 1 })}">previous</a>` : ''} ${f.page < f.pages ? html`<a rel="next" href="/ui/users${query({ ...params, page: f.page + 1 })}">next</a>` : ''}</nav>`,
  );
}

export interface CertificateRow {
  tenant: string;
  configuration: string;
  userId: string;
  subject: string;
  notAfter: string;
  fingerprintSha256: string;
}

const WEEK = 7 * 86_400_000;

interface Bar {
  value: number;
  /** What the bar says when pointed at (and to assistive technology). */
  title: string;
  fill?: string;
}

/**
 * A small bar chart of SVG made here (attributes only: the CSP allows no inline style); a gap where
 * there is no bar. Bars are 10 px wide, or share `width` (up to 40 px each).
 */
function barChart(label: string, bars: (Bar | undefined)[], axis: [string, string], width = bars.length * 10): Html {
  const top = Math.max(1, ...bars.map((b) => b?.value ?? 0));
  const barWidth = Math.min(40, Math.floor(width / Math.max(1, bars.length)));
  const height = 80;
  return html`<svg role="img" aria-label="${label}" width="${width}" height="${height + 14}" viewBox="0 0 ${width} ${height + 14}">
${bars.map((b, i) => (b ? html`<rect x="${i * barWidth + 1}" y="${height - (b.value / top) * height}" width="${barWidth - 2}" height="${(b.value / top) * height}" fill="${b.fill ?? '#2357c6'}"><title>${b.title}</title></rect>` : ''))}
<line x1="0" y1="${height}" x2="${width}" y2="${height}" stroke="#d9dee7"/><text x="0" y="${height + 12}" font-size="10" fill="#5d6778">${axis[0]}</text><text x="${width}" y="${height + 12}" font-size="10" fill="#5d6778" text-anchor="end">${axis[1]}</text>
</svg>`;
}

/** Certificates expiring each week of the year ahead. */
export function expiryChart(certs: { notAfter: string }[], now: number, weeks = 52): Html {
  const counts = Array.from({ length: weeks }, () => 0);
  for (const c of certs) {
    const week = Math.floor((Date.parse(c.notAfter) - now) / WEEK);
    if (week >= 0 && week < weeks) counts[week]!++;
  }
  return barChart(`certificates expiring per week, the next ${weeks} weeks`, counts.map((n, i) => (n ? { value: n, title: `week ${i + 1}: ${n}` } : undefined)), ['now', `+${weeks} wk`]);
}

/** A source's last syncs: how long each took and how many users it left, oldest first; a sync that changed nothing in red. */
export function syncCharts(history: SyncHistoryEntry[]): Html {
  const fill = (s: SyncHistoryEntry) => (s.outcome === 'synced' ? undefined : '#b3261e');
  const when = (s: SyncHistoryEntry) => s.at.slice(0, 16).replace('T', ' ');
  const axis: [string, string] = [when(history[0]!), history.length > 1 ? when(history[history.length - 1]!) : ''];
  const last = history[history.length - 1]!;
  const chart = (caption: string, label: string, value: (s: SyncHistoryEntry) => number, unit: string) =>
    html`<figure class="chart"><figcaption>${caption}: ${value(last)} ${unit} at the last sync, ${Math.max(...history.map(value))} at most</figcaption>${barChart(
      `${label}, the last ${history.length} syncs`,
      history.map((s) => ({ value: value(s), title: `${s.at}: ${value(s)} ${unit}, ${s.outcome}`, fill: fill(s) })),
      axis,
      SYNC_CHART_WIDTH,
    )}</figure>`;
  return html`${chart('Sync duration', 'sync duration', (s) => s.durationMs, 'ms')}
${chart('Users', 'users after each sync', (s) => s.userCount, 'users')}`;
}

const SYNC_CHART_WIDTH = 400;

export function certificatesPage(viewer: Viewer, cas: StoredRecord[], certs: CertificateRow[], now: number): string {
  const s = (r: StoredRecord) => r.status as Record<string, unknown>;
  const soonest = [...certs].sort((a, b) => a.notAfter.localeCompare(b.notAfter)).slice(0, PAGE_SIZE);
  return layout(
    'Certificates',
    viewer,
    html`<section><h2>Certificate authorities</h2>${kindTable(cas, [
      ['Type', (r) => (r.spec as { type?: string }).type],
      ['Expires', (r) => s(r).notAfter],
      ['SHA-256', (r) => s(r).fingerprintSha256],
    ])}
${cas.filter((r) => typeof s(r).certificate === 'string').map((r) => html`<a class="download" href="/ui/ca/${encodeURIComponent(r.tenant)}/${encodeURIComponent(r.name)}.pem">${show(r)}: certificate (PEM)</a> `)}</section>
<section><h2>Identity certificates (${certs.length})</h2>${expiryChart(certs, now)}
<h3>Expiring first</h3><table><thead><tr><th>Configuration</th><th>User</th><th>Subject</th><th>Expires</th><th>SHA-256</th></tr></thead><tbody>
${soonest.map((c) => html`<tr><td>${c.configuration}${c.tenant === 'default' ? '' : ` (${c.tenant})`}</td><td>${c.userId}</td><td>${c.subject}</td><td>${c.notAfter}</td><td>${c.fingerprintSha256}</td></tr>`)}
</tbody></table></section>`,
  );
}

export interface DistributionRow {
  configuration: StoredRecord;
  /** Users reached in each space (the default space as ''). */
  reachedBySpace: Map<string, number>;
  reached: number;
}

export interface SpaceRow {
  space: StoredRecord;
  users: number;
}

/** For each certificate configuration, the spaces and users it reaches and who may change it; for each space, its members and admins. */
export function distributionPage(viewer: Viewer, tenant: string, tenants: string[], configurations: DistributionRow[], spaces: SpaceRow[]): string {
  const spec = (r: StoredRecord) => r.spec as { spaceRef?: { name: string }; distribution?: { devices?: string; otherSpaces?: string; allowSpaceAdminToModifyDistribution?: boolean }; members?: { groups?: string[] }; admins?: { groups?: string[] }; priority?: number };
  return layout(
    'Distribution map',
    viewer,
    html`<form method="get" action="/ui/distribution" class="filters"><select name="tenant" aria-label="Tenant">${tenants.map((t) => html`<option value="${t}"${t === tenant ? html` selected` : ''}>${t}</option>`)}</select><button>Show</button></form>
<section><h2>Certificate configurations</h2>
<table><thead><tr><th>Configuration</th><th>Devices</th><th>Owning space</th><th>Other spaces</th><th>Users reached</th><th>By space</th><th>Space admins may change it</th></tr></thead><tbody>
${configurations.map(({ configuration: c, reachedBySpace, reached }) => {
  const d = spec(c).distribution ?? {};
  const home = spec(c).spaceRef?.name;
  // Only a configuration of the default space may allow it: to each space's admins, for its devices.
  const may = d.allowSpaceAdminToModifyDistribution ? "yes: each space's admins, for its devices" : 'no';
  return html`<tr><td><a href="${resourcePath(c)}">${c.name}</a></td><td>${d.devices}</td><td>${home ?? '(default)'}</td><td>${d.otherSpaces}</td><td class="reached">${reached}</td><td>${[...reachedBySpace].map(([s, n]) => `${s || '(default)'}: ${n}`).join(', ')}</td><td>${may}</td></tr>`;
})}
</tbody></table></section>
<section><h2>Spaces</h2>
<table><thead><tr><th>Space</th><th>Priority</th><th>Member groups</th><th>Admins</th><th>Users</th></tr></thead><tbody>
${spaces.map(({ space: s, users }) => html`<tr><td><a href="${resourcePath(s)}">${s.name}</a></td><td>${spec(s).priority}</td><td>${(spec(s).members?.groups ?? []).join(', ')}</td><td>${(spec(s).admins?.groups ?? []).join(', ')}</td><td>${users}</td></tr>`)}
</tbody></table></section>`,
  );
}
