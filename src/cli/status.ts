// mdmops status [Kind/name] and mdmops notifications: what the tenant store says.
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { API_VERSION } from '../api/index.js';
import { show } from '../engine/context.js';
import { idKey } from '../config/desired.js';
import { conditionOf, readyOf } from '../engine/status.js';
import type { StoredRecord } from '../store/types.js';
import { resourceView } from '../engine/views.js';
import { UserError } from './errors.js';
import { formatOption, wholeNumber } from './flags.js';
import { parseKindOrResource } from './resource-arg.js';
import { openSession, storeOptions, type StoreOptions } from './session.js';
import { table, age } from './table.js';

export function registerStatus(program: Command) {
  storeOptions(program.command('status').description('Status of the resources in the tenant store: Ready, Synced, reason; one resource in full.'))
    .argument('[resource]', 'Kind/name, e.g. Connector/paris-dc (or Kind/tenant/name), or a kind alone to list it')
    .option('-n, --namespace <tenant>', 'only this tenant (for Kind/name: default)')
    .addOption(formatOption(['text', 'json', 'yaml'], { table: 'text' }))
    .action(async (resource: string | undefined, opts: StoreOptions & { namespace?: string; output: string }) => {
      const session = await openSession(opts, { readOnly: true });
      try {
        const inventory = new Map((await session.store.listInventory()).map((e) => [idKey(e), e]));
        const wanted = resource ? parseKindOrResource(resource, opts.namespace ?? 'default') : undefined;
        let records: StoredRecord[];
        if (wanted?.name) {
          const id = { ...wanted, name: wanted.name };
          const record = await session.store.getRecord(id);
          if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}`);
          records = [record];
        } else {
          records = await session.store.listRecords({ ...(opts.namespace ? { tenant: opts.namespace } : {}), ...(wanted ? { kind: wanted.kind } : {}) });
        }
        const one = !!wanted?.name;
        const items = records.map((r) => resourceView(r, inventory.get(idKey(r))));
        const document = one ? items[0] : { apiVersion: API_VERSION, kind: 'List', items };
        if (opts.output === 'json') process.stdout.write(JSON.stringify(document, null, 2) + '\n');
        else if (opts.output === 'yaml' || one) process.stdout.write(stringify(document));
        else if (!records.length) process.stdout.write(emptyMessage(wanted?.kind, opts.namespace, session.store.location));
        else process.stdout.write(statusTable(records));
      } finally {
        await session.close();
      }
    });
}

function emptyMessage(kind: string | undefined, tenant: string | undefined, location: string): string {
  if (!kind && !tenant) return `The tenant store at ${location} is empty: apply a configuration first.\n`;
  return `No ${kind ? `${kind} resources` : 'resources'} in ${tenant ? `tenant ${tenant}` : `the tenant store at ${location}`}.\n`;
}

function statusTable(records: StoredRecord[]): string {
  return table(
    ['RESOURCE', 'READY', 'SYNCED', 'REASON', 'MANAGED', 'UPDATED'],
    records.map((r) => {
      const ready = readyOf(r.status);
      return [show(r), ready?.status ?? 'Unknown', conditionOf(r.status, 'Synced')?.status ?? 'Unknown', ready?.status === 'True' ? '' : (ready?.reason ?? ''), r.managed ? 'yes' : 'no', age(r.updatedAt)];
    }),
  );
}

export function registerNotifications(program: Command) {
  storeOptions(program.command('notifications').description('What needs an administrator: one line per resource and reason, with how often and when it was seen.'))
    .option('--all', 'include notifications whose cause has gone')
    .addOption(formatOption(['text', 'json', 'yaml'], { table: 'text' }))
    .action(async (opts: StoreOptions & { all?: boolean; output: string }) => {
      const session = await openSession(opts, { readOnly: true });
      try {
        const list = await session.store.listNotifications(opts.all ? {} : { active: true });
        if (opts.output === 'json') process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else if (opts.output === 'yaml') process.stdout.write(stringify(list));
        else if (!list.length) process.stdout.write(opts.all ? 'No notifications.\n' : 'No active notifications.\n');
        else
          process.stdout.write(
            table(
              ['LAST SEEN', 'FIRST SEEN', 'COUNT', 'SEVERITY', 'RESOURCE', 'REASON', 'MESSAGE'],
              list.map((n) => [age(n.lastSeen), age(n.firstSeen), String(n.count), n.active ? n.severity : `${n.severity} (resolved)`, show(n), n.reason, n.message]),
            ),
          );
      } finally {
        await session.close();
      }
    });
}

export function registerAudit(program: Command) {
  storeOptions(program.command('audit').description('What changed in the tenant, when, by whom and from which source and revision (newest first).'))
    .option('--limit <n>', 'entries to show', '50')
    .addOption(formatOption(['text', 'json', 'yaml'], { table: 'text' }))
    .action(async (opts: StoreOptions & { limit: string; output: string }) => {
      const limit = wholeNumber('--limit', opts.limit);
      const session = await openSession(opts, { readOnly: true });
      try {
        const list = await session.store.listAudit(limit);
        if (opts.output === 'json') process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        else if (opts.output === 'yaml') process.stdout.write(stringify(list));
        else if (!list.length) process.stdout.write('The audit log is empty.\n');
        else process.stdout.write(table(['AT', 'ACTION', 'RESOURCE', 'SOURCE', 'REVISION', 'ACTOR'], list.map((a) => [a.at, a.action, show(a), a.source, a.revision, a.actor])));
      } finally {
        await session.close();
      }
    });
}
