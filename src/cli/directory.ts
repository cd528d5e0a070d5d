// What identity sources brought in: mdmops users, mdmops invitations (the outbox of enrolment
// invitations for autoInviteUsers), and mdmops idp metadata (the service provider's SAML metadata).
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { show } from '../engine/context.js';
import { UserError } from './errors.js';
import { formatOf, formatOption, oldFormatOption } from './flags.js';
import { parseResourceArg } from './resource-arg.js';
import { openSession, storeOptions, type Session, type StoreOptions } from './session.js';
import { age, table } from './table.js';

interface ListOptions extends StoreOptions {
  namespace: string;
  output: string;
  format?: string;
  source?: string;
}

const FORMATS = ['text', 'json', 'yaml'];
const ALIASES = { table: 'text' };

async function withSession(opts: StoreOptions, fn: (s: Session) => Promise<void>) {
  const session = await openSession(opts, { readOnly: true });
  try {
    await fn(session);
  } finally {
    await session.close();
  }
}

function print<T>(rows: T[], opts: ListOptions, empty: string, header: string[], cells: (r: T) => string[]) {
  const format = formatOf(opts, FORMATS, ALIASES);
  if (format === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else if (format === 'yaml') process.stdout.write(stringify(rows));
  else if (!rows.length) process.stdout.write(`${empty}\n`);
  else process.stdout.write(table(header, rows.map(cells)));
}

export function registerDirectory(program: Command) {
  storeOptions(program.command('users').description('Users synced from identity sources into the tenant store.'))
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .option('--source <source>', 'only users of this source, e.g. EntraIdSource/contoso')
    .addOption(formatOption(FORMATS, ALIASES))
    .addOption(oldFormatOption())
    .action((opts: ListOptions) =>
      withSession(opts, async (s) => {
        const source = opts.source ? parseResourceArg(opts.source, opts.namespace) : undefined;
        const users = (await s.store.listUsers(opts.namespace)).filter((u) => !source || u.source === `${source.kind}/${source.name}`);
        print(users, opts, `No users${opts.source ? ` from ${opts.source}` : ''} in tenant ${opts.namespace}.`, ['UPN', 'EMAIL', 'NAME', 'GROUPS', 'APPLE ID', 'SOURCE'], (u) => [
          u.upn, u.email ?? '', u.displayName ?? '', u.groups.join(','), u.appleId ?? '', u.source,
        ]);
      }),
    );

  storeOptions(program.command('invitations').description('Enrolment invitations queued for newly imported users (autoInviteUsers): the outbox the mail relay sends from.'))
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .addOption(formatOption(FORMATS, ALIASES))
    .addOption(oldFormatOption())
    .action((opts: ListOptions) =>
      withSession(opts, async (s) => {
        const [invitations, users] = await Promise.all([s.store.listInvitations(opts.namespace), s.store.listUsers(opts.namespace)]);
        const upn = new Map(users.map((u) => [u.id, u.upn]));
        const rows = invitations.map((i) => ({ ...i, user: upn.get(i.userId) ?? i.userId }));
        print(rows, opts, `No invitations in tenant ${opts.namespace}.`, ['USER', 'EMAIL', 'SOURCE', 'QUEUED'], (i) => [i.user, i.email, i.source, age(i.queuedAt)]);
      }),
    );

  const idp = program.command('idp').description('The identity provider of a tenant.');
  storeOptions(idp.command('metadata').description("Print the service provider's SAML 2.0 metadata, to register mdmops with the identity provider."))
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .action((opts: StoreOptions & { namespace: string }) =>
      withSession(opts, async (s) => {
        const [record] = await s.store.listRecords({ tenant: opts.namespace, kind: 'IdentityProvider' });
        if (!record) throw new UserError(`tenant ${opts.namespace} has no IdentityProvider in the store at ${s.store.location}: apply one first`);
        const metadata = record.status.serviceProviderMetadata;
        if (typeof metadata !== 'string') throw new UserError(`${show(record)} has no service provider metadata yet: set spec.serviceUrl (the public address of the MDM service) and apply`);
        process.stdout.write(metadata);
      }),
    );
}
