// mdmops sync SOURCE: one sync round of an identity source, now, into the tenant store.
import type { Command } from 'commander';
import { providerContext, show } from '../engine/context.js';
import { UserError } from './errors.js';
import { terminalProgress } from './progress.js';
import { parseResourceArg } from './resource-arg.js';
import { actor, openSession, storeOptions, type StoreOptions } from './session.js';

export function registerSync(program: Command) {
  storeOptions(program.command('sync').description('Sync an identity source now: users and groups into the tenant store.'))
    .argument('<source>', 'the source as applied, e.g. LdapSource/corp-ldap or EntraIdSource/contoso')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .option('--allow-mass-delete', 'confirm a round that deletes more than 500 users or 10% of them')
    .action(async (source: string, opts: StoreOptions & { namespace: string; allowMassDelete?: boolean }) => {
      const id = parseResourceArg(source, opts.namespace);
      const session = await openSession(opts);
      try {
        const provider = session.providers.get(id.kind);
        if (!provider.sync) throw new UserError(`${id.kind} is not a source that syncs; sources: LdapSource, EntraIdSource`);
        const record = await session.store.getRecord(id);
        if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}: apply it first`);
        if (record.spec.enabled === false) throw new UserError(`${show(id)} has enabled: false`);
        const started = Date.now();
        const progress = terminalProgress(show(id));
        const r = await provider.sync(providerContext(session), session.secrets, record, { allowMassDelete: opts.allowMassDelete, actor: actor(), progress: progress.update }).finally(progress.done);
        if (r.error) throw new UserError(`${show(id)}: the source cannot be read, no user was changed: ${r.error}`);
        if (r.blocked) throw new UserError(`${show(id)}: ${r.blocked}`);
        process.stdout.write(`${show(id)}: ${r.userCount} users (${r.added} added, ${r.updated} changed, ${r.removed} removed) in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
        for (const w of r.warnings) process.stderr.write(`mdmops: warning: ${w}\n`);
      } finally {
        await session.close();
      }
    });
}
