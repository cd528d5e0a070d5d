// Core sync from the command line: the receiving endpoint's flags for the long-running modes, its
// accounts, the pin to commit for a target, and the sync log of both sides.
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import { show } from '../engine/context.js';
import type { Logger } from '../observe/log.js';
import { presentedLeaf } from '../net/pinned-https.js';
import { accountKey, hashPassword } from '../server/core-sync-accounts.js';
import { receivedKey, serveCoreSync } from '../server/core-sync.js';
import { messageOf } from '../util/message-of.js';
import { UserError } from './errors.js';
import { flagFile, parseListen } from './flags.js';
import { readPassword } from './password.js';
import { parseResourceArg } from './resource-arg.js';
import { openSession, storeOptions, type Session, type StoreOptions } from './session.js';
import { table } from './table.js';

export interface CoreSyncFlags {
  coreSyncListen?: string;
  coreSyncCert?: string;
  coreSyncKey?: string;
  coreSyncClientCa?: string;
  tenant: string;
  coreName?: string;
}

export function coreSyncOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--core-sync-listen <[host]:port>', 'address where peer cores push their configuration (no endpoint without it), e.g. :9443'))
    .addOption(new Option('--core-sync-cert <file>', "the endpoint's TLS certificate (PEM); peers pin its SHA-256"))
    .addOption(new Option('--core-sync-key <file>', 'the key of --core-sync-cert (PEM)'))
    .addOption(new Option('--core-sync-client-ca <file>', 'require a client certificate of this CA (PEM) besides the account'))
    .option('--tenant <name>', 'the tenant received configuration lands in, whose core-sync accounts may push', 'default')
    .addOption(new Option('--core-name <name>', "this core's name, which peers record as the owner of what it sends (default: the host's fully qualified name, as hostname -f finds it)"));
}

/** The core name, and the core-sync endpoint when --core-sync-listen says so. */
export async function startCoreSync(opts: CoreSyncFlags, session: Session, log: Logger): Promise<{ close(): Promise<void> } | undefined> {
  if (opts.coreName) session.coreName = opts.coreName; // otherwise the host's fully qualified name, found when a sync first needs it
  if (!opts.coreSyncListen) return undefined;
  const listen = parseListen(opts.coreSyncListen, '--core-sync-listen');
  if (!opts.coreSyncCert || !opts.coreSyncKey) throw new UserError('--core-sync-listen needs --core-sync-cert and --core-sync-key: peers pin that certificate');
  try {
    return await serveCoreSync({
      host: listen.host,
      port: listen.port,
      cert: flagFile('--core-sync-cert', opts.coreSyncCert),
      key: flagFile('--core-sync-key', opts.coreSyncKey),
      ...(opts.coreSyncClientCa ? { clientCa: flagFile('--core-sync-client-ca', opts.coreSyncClientCa) } : {}),
      engine: session,
      secrets: session.secrets,
      tenant: opts.tenant,
      log,
    });
  } catch (e) {
    throw new UserError(`--core-sync-listen ${opts.coreSyncListen}: ${messageOf(e)}`);
  }
}

export function registerCoreSync(program: Command) {
  const coreSync = program.command('core-sync').description('Core sync between mdmops servers: accounts peers push with, the pin of a target, the sync log.');
  const account = coreSync.command('account').description('Accounts a peer core pushes with, on this (receiving) core.');
  storeOptions(account.command('add').description("Add (or change the password of) an account with administrator rights on one tenant of this core, for peers' pushes."))
    .argument('<name>', 'account name')
    .option('--password-file <file>', 'read the password from this file (default: asked on the terminal)')
    .option('-n, --namespace <tenant>', 'the tenant the account may push to', 'default')
    .action(async (name: string, opts: StoreOptions & { passwordFile?: string; namespace: string }) => {
      if (!/^[A-Za-z0-9._@\\-]{1,128}$/.test(name)) throw new UserError(`account name "${name}": letters, digits and . _ @ \\ - only`);
      const password = opts.passwordFile ? flagFile('--password-file', opts.passwordFile).replace(/\r?\n$/, '') : await readPassword(`password for ${name}: `);
      if (password.length < 12) throw new UserError('the password must have at least 12 characters');
      const session = await openSession(opts);
      try {
        await session.store.commit([{ op: 'setMeta', key: accountKey(opts.namespace, name), value: await hashPassword(password) }]);
        process.stdout.write(`account ${name} may push to tenant ${opts.namespace}\n`);
      } finally {
        await session.close();
      }
    });
  storeOptions(account.command('delete').description('Remove an account: its pushes are refused from now on.'))
    .argument('<name>', 'account name')
    .option('-n, --namespace <tenant>', 'its tenant', 'default')
    .action(async (name: string, opts: StoreOptions & { namespace: string }) => {
      const session = await openSession(opts);
      try {
        if ((await session.store.getMeta(accountKey(opts.namespace, name))) === undefined) throw new UserError(`no account ${name} on tenant ${opts.namespace}`);
        await session.store.commit([{ op: 'deleteMeta', key: accountKey(opts.namespace, name) }]);
        process.stdout.write(`account ${name} removed from tenant ${opts.namespace}\n`);
      } finally {
        await session.close();
      }
    });

  storeOptions(coreSync.command('forget').description("Forget the generation this core applied last from a peer core's tenant, so that it takes that core's next push even of an older generation (its store was restored from a backup). What it received stays, owned by that core."))
    .argument('<core>', "the sending core's name (FROM in core-sync log --received)")
    .option('--from <tenant>', "the sending core's tenant", 'default')
    .option('-n, --namespace <tenant>', 'the tenant here its pushes land in', 'default')
    .action(async (core: string, opts: StoreOptions & { from: string; namespace: string }) => {
      const session = await openSession(opts);
      try {
        const key = receivedKey(opts.namespace, core, opts.from);
        const held = await session.store.getMeta(key);
        if (held === undefined) throw new UserError(`tenant ${opts.namespace} has applied nothing from core ${core} (tenant ${opts.from}): see mdmops core-sync log --received`);
        await session.store.commit([{ op: 'deleteMeta', key }]);
        process.stdout.write(`forgot generation ${(JSON.parse(held) as { generation: number }).generation} from core ${core} (tenant ${opts.from}): its next push is applied whatever its generation\n`);
      } finally {
        await session.close();
      }
    });

  storeOptions(coreSync.command('trust').description('Print the pin to commit for a target: the SHA-256 of the certificate it presents now (check it against the target, see the README).'))
    .argument('<target>', 'CoreSyncTarget/NAME')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .action(async (target: string, opts: StoreOptions & { namespace: string }) => {
      const id = parseResourceArg(target, opts.namespace);
      if (id.kind !== 'CoreSyncTarget') throw new UserError(`${target}: expected CoreSyncTarget/NAME`);
      const session = await openSession(opts, { readOnly: true });
      try {
        const record = await session.store.getRecord(id);
        if (!record) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}: apply it first`);
        const spec = record.spec as { fqdn: string; port: number };
        const host = spec.fqdn.replace(/\.$/, '');
        let leaf;
        try {
          // A one-shot command on an administrator's machine: internal addresses allowed, as for every one-shot command.
          leaf = await presentedLeaf(host, spec.port, { allowInternal: true });
        } catch (e) {
          throw new UserError(`${host}:${spec.port}: ${messageOf(e)}`);
        }
        process.stderr.write(`${host}:${spec.port} presents:\n  subject: ${leaf.subject}\n  issuer:  ${leaf.issuer}\n  valid:   ${leaf.validFrom} to ${leaf.validTo}\n  SHA-256: ${leaf.sha256}\nCheck it on the target (openssl x509 -in CERT -noout -fingerprint -sha256), then commit under spec:\n`);
        process.stdout.write(`trust:\n  certificateSha256: ${leaf.sha256}\n`);
      } finally {
        await session.close();
      }
    });

  storeOptions(coreSync.command('log').description("A target's sync log (what was sent), or with --received what peers pushed to this core."))
    .argument('[target]', 'CoreSyncTarget/NAME')
    .option('--received', 'what this core received')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (target: string | undefined, opts: StoreOptions & { received?: boolean; namespace: string; output: string }) => {
      if (!target === !opts.received) throw new UserError('name a target (CoreSyncTarget/NAME), or give --received');
      const id = target ? parseResourceArg(target, opts.namespace) : undefined;
      const session = await openSession(opts, { readOnly: true });
      try {
        const entries = (await session.store.listAudit(10_000)).filter((e) =>
          id ? e.action === 'core-sync' && e.tenant === id.tenant && e.kind === id.kind && e.name === id.name : e.action === 'core-sync-receive' && e.tenant === opts.namespace,
        );
        const rows = entries.map((e) => ({ time: e.at, ...(id ? {} : { from: `${String(e.detail.core)} (${String(e.detail.from)})` }), result: String(e.detail.result ?? 'applied'), generation: e.detail.generation ?? null, items: e.detail.items ?? null, bytes: e.detail.bytes ?? 0, certificateSha256: e.detail.certificateSha256 ?? null, ...(id ? { message: e.detail.message } : { kept: e.detail.kept }) }));
        if (opts.output === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        else if (opts.output === 'yaml') process.stdout.write(stringify(rows));
        else if (!rows.length) process.stdout.write('nothing synced yet\n');
        else process.stdout.write(table(['TIME', ...(id ? [] : ['FROM']), 'RESULT', 'GENERATION', 'ITEMS', 'BYTES', 'CERTIFICATE'], rows.map((r) => [r.time, ...(id ? [] : [String(r.from)]), r.result, String(r.generation ?? '-'), String(r.items ?? '-'), String(r.bytes), String(r.certificateSha256 ?? '-').slice(0, 16)])));
      } finally {
        await session.close();
      }
    });
}
