// The web console from the command line: its listener's flags for the long-running modes, and its
// sign-in tokens.
import { Option, type Command } from 'commander';
import { stringify } from 'yaml';
import type { SecretResolver } from '../config/secrets.js';
import type { Logger } from '../observe/log.js';
import { serveConsole, type ConnectorLogs, type ConsoleOptions } from '../server/console/index.js';
import { listTokens, makeToken, revokeTokens, roleName, ROLES, type Role } from '../server/console/tokens.js';
import { messageOf } from '../util/message-of.js';
import { UserError } from './errors.js';
import { duration, flagFile, parseListen } from './flags.js';
import { openSession, storeOptions, type Session, type StoreOptions } from './session.js';
import { table } from './table.js';

export interface ConsoleFlags {
  consoleListen?: string;
  consoleCert?: string;
  consoleKey?: string;
}

export function consoleOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--console-listen <[host]:port>', 'address of the web console, /ui/ (no console without it), e.g. 127.0.0.1:8081'))
    .addOption(new Option('--console-cert <file>', "the console's TLS certificate (PEM): served over HTTPS, its cookie Secure"))
    .addOption(new Option('--console-key <file>', 'the key of --console-cert (PEM)'));
}

/**
 * The console when --console-listen asks for it. Its sync action reads secrets from `using.secrets`
 * (the controller's are the cluster's); connector logs are collected through the gateway this
 * process serves, if any.
 */
export async function startConsole(opts: ConsoleFlags, session: Session, log: Logger, using: { secrets?: SecretResolver; connectorLogs?: () => ConnectorLogs | undefined; externalSignIn?: ConsoleOptions['externalSignIn'] } = {}): Promise<{ close(): Promise<void> } | undefined> {
  if (!opts.consoleListen) return undefined;
  const listen = parseListen(opts.consoleListen, '--console-listen');
  if (!opts.consoleCert !== !opts.consoleKey) throw new UserError('--console-cert and --console-key go together');
  const tls = opts.consoleCert && opts.consoleKey ? { cert: flagFile('--console-cert', opts.consoleCert), key: flagFile('--console-key', opts.consoleKey) } : undefined;
  try {
    return await serveConsole({ host: listen.host, port: listen.port, engine: session, secrets: using.secrets ?? session.secrets, ...(using.connectorLogs ? { connectorLogs: using.connectorLogs } : {}), ...(using.externalSignIn ? { externalSignIn: using.externalSignIn } : {}), log, ...(tls ? { tls } : {}) });
  } catch (e) {
    throw new UserError(`--console-listen ${opts.consoleListen}: ${messageOf(e)}`);
  }
}

export function registerConsole(program: Command) {
  const consoleCmd = program.command('console').description('The web console: sign-in tokens (serve, run and the controller serve it with --console-listen).');
  storeOptions(consoleCmd.command('token').description('Print a new console sign-in token, alone on standard output (the store keeps only its hash).'))
    .addOption(new Option('--role <role>', 'manager (System Manager) or read-only (System Read-Only)').choices([...ROLES]).makeOptionMandatory())
    .option('--ttl <duration>', 'how long it signs in', '8h')
    .option('--name <who>', 'who it is for: the audit log names console actions by it', 'console')
    .action(async (opts: StoreOptions & { role: Role; ttl: string; name: string }) => {
      const ttlMs = duration('--ttl', opts.ttl, 60_000);
      if (!/^[\w.@ -]{1,64}$/.test(opts.name)) throw new UserError(`--name "${opts.name}": letters, digits, spaces and . _ @ - only, at most 64`);
      const session = await openSession(opts);
      try {
        const { token, entry } = await makeToken(session.store, { role: opts.role, name: opts.name, ttlMs });
        process.stderr.write(`console token ${entry.id} for ${entry.name} (${roleName(entry.role)}), valid until ${entry.expiresAt}\n`);
        process.stdout.write(`${token}\n`);
      } finally {
        await session.close();
      }
    });
  storeOptions(consoleCmd.command('tokens').description('List the console tokens (never their secret), or revoke one: its sessions end at once.'))
    .option('--revoke <id-or-name>', 'revoke the token of this id, or every token of this name')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: StoreOptions & { revoke?: string; output: string }) => {
      const session = await openSession(opts, { readOnly: !opts.revoke });
      try {
        if (opts.revoke) {
          const n = await revokeTokens(session.store, opts.revoke);
          if (!n) throw new UserError(`no console token has the id or name "${opts.revoke}"`);
          process.stdout.write(`revoked ${n} token${n === 1 ? '' : 's'}\n`);
          return;
        }
        const rows = (await listTokens(session.store)).map(({ sha256: _hash, ...t }) => ({ ...t, expired: Date.parse(t.expiresAt) <= Date.now() }));
        if (opts.output === 'json') process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        else if (opts.output === 'yaml') process.stdout.write(stringify(rows));
        else if (!rows.length) process.stdout.write('no console tokens: make one with mdmops console token --role manager|read-only\n');
        else process.stdout.write(table(['ID', 'NAME', 'ROLE', 'EXPIRES'], rows.map((t) => [t.id, t.name, t.role, t.expired ? `${t.expiresAt} (expired)` : t.expiresAt])));
      } finally {
        await session.close();
      }
    });
}
