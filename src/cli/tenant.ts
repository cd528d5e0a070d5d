// mdmops tenant set Kind/name FIELD=VALUE: edit the tenant store directly, as an administrator's
// console edit would. The next plan shows the drift; apply corrects it (unless managementPolicy: Observe).
// mdmops tenant forget Kind/name: remove an orphaned resource, which no configuration manages any more.
import type { Command } from 'commander';
import { isNode, parseDocument, visit } from 'yaml';
import { kindNamed } from '../api/index.js';
import { fieldPath } from '../config/diagnostics.js';
import { recordReferences, show } from '../engine/context.js';
import { idKey, mapFileRefs } from '../config/desired.js';
import { replacing } from '../engine/diff.js';
import { messageOf } from '../util/message-of.js';
import { UserError } from './errors.js';
import { parseResourceArg } from './resource-arg.js';
import { actor, openSession, storeOptions, type Session, type StoreOptions } from './session.js';
import type { ResourceId } from '../store/types.js';

type Segment = string | number;

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

/** spec.subject.commonName, subject.commonName or usages.customOids[0]: always under spec. */
export function parseField(text: string): Segment[] {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\])*$/.test(text)) throw new UserError(`"${text}": expected a field path such as logLevel or subject.commonName`);
  const segments: Segment[] = [...text.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
  if (['metadata', 'kind', 'apiVersion', 'status'].includes(String(segments[0]))) throw new UserError(`"${text}": only fields under spec can be set`);
  const path = segments[0] === 'spec' ? segments.slice(1) : segments;
  if (!path.length) throw new UserError(`"${text}": name a field under spec, e.g. spec.logLevel`);
  if (path.some((p) => FORBIDDEN.has(String(p)))) throw new UserError(`"${text}": not a field`);
  return path;
}

const isFileRef = (v: unknown) => typeof v === 'object' && v !== null && Object.keys(v).length === 1 && 'sha256' in v;

function setIn(target: Record<string, unknown>, path: Segment[], value: unknown) {
  let at: Record<Segment, unknown> = target;
  for (const [i, p] of path.entries()) {
    const here = `spec.${fieldPath(path.slice(0, i + 1))}`;
    if (isFileRef(at)) throw new UserError(`spec.${fieldPath(path.slice(0, i))} holds a file: change the file in the configuration instead`);
    if (Array.isArray(at) && (typeof p !== 'number' || p > at.length)) {
      throw new UserError(typeof p === 'number' ? `${here}: index ${p} is past the end (${at.length} item${at.length === 1 ? '' : 's'})` : `${here}: spec.${fieldPath(path.slice(0, i))} is a list: use [index]`);
    }
    if (i === path.length - 1) {
      if (isFileRef(at[p])) throw new UserError(`${here} holds a file: change the file in the configuration instead`);
      at[p] = value;
      return;
    }
    if (at[p] === undefined) at[p] = typeof path[i + 1] === 'number' ? [] : {};
    if (typeof at[p] !== 'object' || at[p] === null) throw new UserError(`${here} is not an object`);
    at = at[p] as Record<Segment, unknown>;
  }
}

function parseValue(text: string, field: string): unknown {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new UserError(`${field}=${text}: the value is not valid YAML (${doc.errors[0]!.message.split('\n')[0]}); quote it`);
  let tagged = false;
  visit(doc, (_key, node) => {
    if (isNode(node) && node.tag) tagged = true;
  });
  // A tag (!!binary, !custom) would change what the value is, or only warn: neither is an edit.
  if (tagged || doc.warnings.length) throw new UserError(`${field}=${text}: YAML tags (!!binary, !name) are not accepted; quote the value to set it as text`);
  try {
    return doc.toJS() as unknown;
  } catch (e) {
    throw new UserError(`${field}=${text}: the value is not valid YAML (${messageOf(e).split('\n')[0]}); quote it`);
  }
}

function unsetIn(target: Record<string, unknown>, path: Segment[]) {
  let at: Record<Segment, unknown> = target;
  for (const p of path.slice(0, -1)) {
    if (typeof at[p] !== 'object' || at[p] === null) return; // not there: nothing to remove
    at = at[p] as Record<Segment, unknown>;
  }
  const last = path[path.length - 1]!;
  if (isFileRef(at[last])) throw new UserError(`spec.${fieldPath(path)} holds a file: change the file in the configuration instead`);
  if (Array.isArray(at) && typeof last === 'number') at.splice(last, 1);
  else delete at[last];
}

export type SpecEdit = { path: Segment[]; value: unknown } | { path: Segment[]; unset: true };

/** Changes spec fields of a record in the tenant store, as a console edit would (checked against the kind, audited); says what changed. */
export async function editRecord(session: Session, id: ResourceId, edits: SpecEdit[]): Promise<string> {
  const record = await session.store.getRecord(id);
  if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}`);
  const spec = structuredClone(record.spec);
  for (const e of edits) {
    if ('unset' in e) unsetIn(spec, e.path);
    else setIn(spec, e.path, e.value);
  }
  // The console refuses what the kind does not allow; so does this.
  const checked = kindNamed(id.kind)!.spec.safeParse(mapFileRefs(spec, () => ({ data: '-' })));
  if (!checked.success) {
    const issue = checked.error.issues[0]!;
    const where = issue.path.length ? `spec.${fieldPath(issue.path as Segment[])}` : 'spec';
    throw new UserError(`${show(id)}: ${where}: ${issue.message}; nothing was changed`);
  }
  const at = new Date().toISOString();
  await session.store.commit([
    { op: 'putRecord', record: { ...record, spec, updatedAt: at }, appliedSpec: record.spec },
    { op: 'audit', entry: { at, ...id, action: 'console-edit', source: 'console', revision: '', actor: actor(), detail: { fields: edits.map((e) => `spec.${fieldPath(e.path)}`) } } },
  ]);
  // Correcting such a drift cannot be done in place: say so before the next apply does it.
  const replaced = replacing(edits.map((e) => ({ path: `spec.${fieldPath(e.path)}` })), session.providers.get(id.kind).replaceOn ?? []);
  if (replaced.length && record.managed) {
    process.stderr.write(`mdmops: warning: ${replaced.join(', ')} cannot change in place: the next apply that corrects this edit replaces ${show(id)} (a CA makes a new key pair, and what it issued is issued again)\n`);
  }
  return `${show(id)}: ${edits.map((e) => `spec.${fieldPath(e.path)}`).join(', ')} changed in the tenant store`;
}

export function registerTenant(program: Command) {
  const tenant = program.command('tenant').description('Work on the tenant store directly.');
  storeOptions(tenant.command('set').description('Change fields of a resource in the tenant store, as a console edit would (the next plan shows it as drift).'))
    .argument('<resource>', 'Kind/name, e.g. Connector/paris-dc (or Kind/tenant/name)')
    .argument('<assignments...>', 'FIELD=VALUE (VALUE is read as YAML: true, 5, "text", [a, b]), or FIELD- to remove the field')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .addHelpText('after', '\nExamples:\n  mdmops tenant set Connector/paris-dc logLevel=Debug\n  mdmops tenant set Connector/paris-dc description-')
    .action(async (resource: string, assignments: string[], opts: StoreOptions & { namespace: string }) => {
      const id = parseResourceArg(resource, opts.namespace);
      const edits = assignments.map((a) => {
        const eq = a.indexOf('=');
        if (eq < 0 && a.endsWith('-')) return { path: parseField(a.slice(0, -1)), unset: true as const };
        if (eq <= 0) throw new UserError(`"${a}": expected FIELD=VALUE or FIELD-`);
        return { path: parseField(a.slice(0, eq)), value: parseValue(a.slice(eq + 1), a.slice(0, eq)) };
      });
      const session = await openSession(opts);
      try {
        process.stdout.write((await editRecord(session, id, edits)) + '\n');
      } finally {
        await session.close();
      }
    });

  storeOptions(tenant.command('forget').description('Remove an orphaned resource (deletionPolicy Orphan) from the tenant store, with what it holds (keys, certificates).'))
    .argument('<resource>', 'Kind/name, e.g. CertificateAuthority/corp-scep (or Kind/tenant/name)')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .addHelpText('after', '\nExample:\n  mdmops tenant forget CertificateAuthority/corp-scep')
    .action(async (resource: string, opts: StoreOptions & { namespace: string }) => {
      const id = parseResourceArg(resource, opts.namespace);
      const session = await openSession(opts);
      try {
        const record = await session.store.getRecord(id);
        if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}`);
        if (record.managed) throw new UserError(`${show(id)} is managed: remove it from its configuration (or its custom resource) instead; only an orphaned resource is forgotten`);
        const referrers = (await session.store.listRecords({ tenant: id.tenant })).filter((r) => r.managed && recordReferences(r).includes(idKey(id)));
        if (referrers.length) throw new UserError(`${show(id)} is still referenced by ${referrers.map(show).join(', ')}: change those first`);
        const at = new Date().toISOString();
        await session.store.commit([
          { op: 'deleteRecord', id },
          { op: 'deleteBlobs', id },
          { op: 'deleteInventory', id },
          ...(id.kind === 'CertificateConfiguration' ? [{ op: 'deleteCertificates' as const, tenant: id.tenant, configuration: id.name }] : []),
          { op: 'audit', entry: { at, ...id, action: 'forget', source: 'console', revision: '', actor: actor(), detail: {} } },
        ]);
        process.stdout.write(`${show(id)} forgotten: removed from the tenant store with what it held\n`);
      } finally {
        await session.close();
      }
    });
}
