// mdmops sync KIND/NAME: one sync now of a resource that syncs (an identity source, SQL
// provisioning, a core-sync target), then of those that follow it (a source's SqlProvisionings).
import type { Command } from 'commander';
import { show } from '../engine/context.js';
import { syncWithFollowers } from '../engine/scheduled-sync.js';
import { UserError } from './errors.js';
import { terminalProgress } from './progress.js';
import { parseResourceArg } from './resource-arg.js';
import { actor, openSession, storeOptions, type StoreOptions } from './session.js';

export function registerSync(program: Command) {
  storeOptions(program.command('sync').description('Sync now: an identity source (users and groups into the tenant store), then what provisions its users; a SqlProvisioning; or a CoreSyncTarget (send the configuration).'))
    .argument('<resource>', 'the resource as applied, e.g. LdapSource/corp-ldap, EntraIdSource/contoso, SqlProvisioning/hr-app or CoreSyncTarget/core-b')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .option('--allow-mass-delete', 'confirm a round that deletes more than its deletionThreshold allows (by default 500, or 10%)')
    .action(async (resource: string, opts: StoreOptions & { namespace: string; allowMassDelete?: boolean }) => {
      const id = parseResourceArg(resource, opts.namespace);
      const session = await openSession(opts);
      try {
        if (!session.providers.get(id.kind).sync) {
          throw new UserError(`${id.kind} does not sync; what syncs: ${session.providers.kinds.filter((k) => session.providers.get(k).sync).join(', ')}`);
        }
        const record = await session.store.getRecord(id);
        if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}: apply it first`);
        if (record.spec.enabled === false) throw new UserError(`${show(id)} has enabled: false`);
        const started = Date.now();
        const progress = terminalProgress(show(id));
        const [first, ...followers] = await syncWithFollowers(session, session.secrets, record, { allowMassDelete: opts.allowMassDelete, force: true, actor: actor(), progress: progress.update }).finally(progress.done);
        const r = first!.report;
        if (r.error) throw new UserError(`${show(id)}: ${r.summary === undefined ? 'the source cannot be read, no user was changed' : 'nothing was written'}: ${r.error}`);
        if (r.blocked) throw new UserError(`${show(id)}: ${r.blocked}`);
        process.stdout.write(`${show(id)}: ${describe(r)} in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
        for (const w of r.warnings) process.stderr.write(`mdmops: warning: ${w}\n`);
        for (const f of followers) {
          const failed = f.report.error ?? f.report.blocked;
          if (failed) process.stderr.write(`mdmops: warning: ${f.source}, which follows it: ${failed}\n`);
          else process.stdout.write(`${f.source}: ${describe(f.report)}.\n`);
          for (const w of f.report.warnings) process.stderr.write(`mdmops: warning: ${f.source}: ${w}\n`);
        }
      } finally {
        await session.close();
      }
    });
}

const describe = (r: { summary?: string; userCount: number; added: number; updated: number; removed: number }) =>
  r.summary ?? `${r.userCount} users (${r.added} added, ${r.updated} changed, ${r.removed} removed)`;
