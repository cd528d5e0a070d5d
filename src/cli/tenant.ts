// mdmops tenant set Kind/name FIELD=VALUE: edit the tenant store directly, as an administrator's
// console edit would. The next plan shows the drift; apply corrects it (unless managementPolicy: Observe).
import type { Command } from 'commander';
import { parse } from 'yaml';
import { kindNamed } from '../api/index.js';
import { fieldPath } from '../config/diagnostics.js';
import { show } from '../engine/context.js';
import { mapFileRefs } from '../engine/desired.js';
import { UserError } from './errors.js';
import { parseResourceArg } from './resource-arg.js';
import { actor, openSession, storeOptions, type StoreOptions } from './session.js';

type Segment = string | number;

/** spec.subject.commonName, subject.commonName or usages.customOids[0]. */
export function parseField(text: string): Segment[] {
  if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*|\[\d+\])*$/.test(text)) throw new UserError(`"${text}": expected a field path such as logLevel or subject.commonName`);
  const segments: Segment[] = [...text.matchAll(/([A-Za-z_][\w-]*)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : m[1]!));
  return segments[0] === 'spec' ? segments.slice(1) : segments;
}

function setIn(target: Record<string, unknown>, path: Segment[], value: unknown) {
  let at: Record<Segment, unknown> = target;
  for (const [i, p] of path.slice(0, -1).entries()) {
    if (at[p] === undefined) at[p] = typeof path[i + 1] === 'number' ? [] : {};
    if (typeof at[p] !== 'object' || at[p] === null) throw new UserError(`${fieldPath(path.slice(0, i + 1))} is not an object`);
    at = at[p] as Record<Segment, unknown>;
  }
  at[path[path.length - 1]!] = value;
}

export function registerTenant(program: Command) {
  const tenant = program.command('tenant').description('Work on the tenant store directly.');
  storeOptions(tenant.command('set').description('Change fields of a resource in the tenant store, as a console edit would (the next plan shows it as drift).'))
    .argument('<resource>', 'Kind/name, e.g. Connector/paris-dc')
    .argument('<assignments...>', 'FIELD=VALUE; VALUE is read as YAML (true, 5, "text", [a, b])')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .addHelpText('after', '\nExample:\n  mdmops tenant set Connector/paris-dc logLevel=Debug')
    .action(async (resource: string, assignments: string[], opts: StoreOptions & { namespace: string }) => {
      const id = parseResourceArg(resource, opts.namespace);
      const edits = assignments.map((a) => {
        const eq = a.indexOf('=');
        if (eq <= 0) throw new UserError(`"${a}": expected FIELD=VALUE`);
        return { path: parseField(a.slice(0, eq)), value: parse(a.slice(eq + 1)) as unknown };
      });
      const session = await openSession(opts);
      try {
        const record = await session.store.getRecord(id);
        if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}`);
        const spec = structuredClone(record.spec);
        for (const e of edits) {
          if (mapFileRefs(e.path.reduce<unknown>((at, p) => (at as Record<Segment, unknown> | undefined)?.[p], spec), () => null) === null) {
            throw new UserError(`spec.${fieldPath(e.path)} holds a file: change the file in the configuration instead`);
          }
          setIn(spec, e.path, e.value);
        }
        // The console refuses what the kind does not allow; so does this.
        const checked = kindNamed(id.kind)!.spec.safeParse(mapFileRefs(spec, () => ({ data: '-' })));
        if (!checked.success) {
          const issue = checked.error.issues[0]!;
          throw new UserError(`${show(id)}: spec.${fieldPath(issue.path as Segment[])}: ${issue.message}; nothing was changed`);
        }
        const at = new Date().toISOString();
        await session.store.commit([
          { op: 'putRecord', record: { ...record, spec, updatedAt: at } },
          { op: 'audit', entry: { at, ...id, action: 'console-edit', source: 'console', revision: '', actor: actor(), detail: { fields: edits.map((e) => `spec.${fieldPath(e.path)}`) } } },
        ]);
        process.stdout.write(`${show(id)}: ${edits.map((e) => `spec.${fieldPath(e.path)}`).join(', ')} changed in the tenant store\n`);
      } finally {
        await session.close();
      }
    });
}
