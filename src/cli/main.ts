// The mdmops command line.
import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';
import { VERSION } from './package-info.js';
import { registerSchema } from './schema.js';
import { registerValidate } from './validate.js';
import { registerPlan } from './plan.js';
import { registerApply } from './apply.js';
import { registerAudit, registerNotifications, registerStatus } from './status.js';
import { registerExport } from './export.js';
import { registerTenant } from './tenant.js';
import { registerCertificates } from './certificates.js';
import { registerSync } from './sync.js';
import { registerCoreSync } from './core-sync.js';
import { registerDirectory } from './directory.js';
import { registerRun } from './run.js';
import { registerServe } from './serve.js';
import { registerDiff } from './diff.js';
import { registerController } from './controller.js';
import { registerConnector } from './connector.js';
import { registerConsole } from './console.js';
import { messageOf } from '../util/message-of.js';

export function buildProgram(): Command {
  const program = new Command('mdmops')
    .description('Declarative configuration plane for MDM infrastructure: validate, plan and reconcile a tenant from YAML.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerValidate(program);
  registerPlan(program);
  registerApply(program);
  registerStatus(program);
  registerNotifications(program);
  registerAudit(program);
  registerExport(program);
  registerTenant(program);
  registerCertificates(program);
  registerSync(program);
  registerCoreSync(program);
  registerDirectory(program);
  registerRun(program);
  registerServe(program);
  registerDiff(program);
  registerController(program);
  registerConnector(program);
  registerConsole(program);
  registerSchema(program);
  const override = (cmd: Command) => cmd.commands.forEach((c) => override(c.exitOverride().showHelpAfterError('(run with --help for usage)')));
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander printed it (help, version, usage errors)
    if (e instanceof UserError) {
      process.stderr.write(`mdmops: ${e.message}\n`);
      return e.exitCode;
    }
    const code = (e as { code?: unknown }).code;
    // SQLite reports a damaged file wherever it meets the damage, often mid-command.
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'))) {
      process.stderr.write(`mdmops: the store file is corrupt (${messageOf(e)}): restore it from a backup\n`);
      return 1;
    }
    process.stderr.write(`mdmops: internal error: ${messageOf(e)}\n`);
    if (process.env.MDMOPS_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    else process.stderr.write('set MDMOPS_DEBUG=1 to see where it happened, and report it\n');
    return 70;
  }
}

// A reader that stops early (mdmops ... | head) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(Number(process.exitCode ?? 0));
    throw e;
  });
}

process.exitCode = await main(process.argv.slice(2));
