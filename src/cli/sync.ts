// mdmops sync SOURCE: one sync round of an identity source, now, into the tenant store.
import type { Command } from 'commander';
import { show } from '../engine/context.js';
import { syncLdapSource } from '../providers/ldap-source/sync.js';
import { UserError } from './errors.js';
import { parseResourceArg } from './resource-arg.js';
import { actor, openSession, storeOptions, type StoreOptions } from './session.js';

export function registerSync(program: Command) {
  storeOptions(program.command('sync').description('Sync an identity source now: users and groups into the tenant store.'))
    .argument('<source>', 'the source as applied, e.g. LdapSource/corp-ldap')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .option('--allow-mass-delete', 'confirm a round that deletes more than 500 users or 10% of them')
    .action(async (source: string, opts: StoreOptions & { namespace: string; allowMassDelete?: boolean }) => {
      const id = parseResourceArg(source, opts.namespace);
      if (id.kind !== 'LdapSource') throw new UserError(`${id.kind} cannot be synced yet: only LdapSource`);
      const session = await openSession(opts);
      try {
        const record = await session.store.getRecord(id);
        if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}: apply it first`);
        if (record.spec.enabled === false) throw new UserError(`${show(id)} has enabled: false`);
        const started = Date.now();
        const r = await syncLdapSource(session, record, session.secrets, { allowMassDelete: opts.allowMassDelete, actor: actor() });
        if (r.error) throw new UserError(`${show(id)}: the directory cannot be read, no user was changed: ${r.error}`);
        if (r.round?.blocked) throw new UserError(`${show(id)}: ${r.round.blocked}`);
        const { added, updated, removed } = r.round!;
        process.stdout.write(`${show(id)}: ${r.userCount} users (${added} added, ${updated} changed, ${removed} removed) in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
      } finally {
        await session.close();
      }
    });
}
