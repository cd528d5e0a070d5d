// The mdmops command line.
import { Command, CommanderError } from 'commander';
import { UserError } from './errors.js';
import { VERSION } from './package-info.js';
import { messageOf } from '../util/message-of.js';
import { corruptStoreMessage, isCorruptStore } from '../store/corrupt.js';

/**
 * The commands, in the order help lists them, each with the module that registers it: a command
 * loads its own module only (with what it imports), so `mdmops sync` does not pay for the
 * controller's or the console's start-up.
 */
const COMMANDS: { names: string[]; load: () => Promise<((program: Command) => void)[]> }[] = [
  { names: ['validate'], load: async () => [(await import('./validate.js')).registerValidate] },
  { names: ['plan'], load: async () => [(await import('./plan.js')).registerPlan] },
  { names: ['apply'], load: async () => [(await import('./apply.js')).registerApply] },
  {
    names: ['status', 'notifications', 'audit'],
    load: async () => {
      const m = await import('./status.js');
      return [m.registerStatus, m.registerNotifications, m.registerAudit];
    },
  },
  { names: ['export'], load: async () => [(await import('./export.js')).registerExport] },
  { names: ['tenant'], load: async () => [(await import('./tenant.js')).registerTenant] },
  { names: ['certificates'], load: async () => [(await import('./certificates.js')).registerCertificates] },
  { names: ['sync'], load: async () => [(await import('./sync.js')).registerSync] },
  { names: ['core-sync'], load: async () => [(await import('./core-sync.js')).registerCoreSync] },
  { names: ['users', 'invitations', 'idp'], load: async () => [(await import('./directory.js')).registerDirectory] },
  { names: ['run'], load: async () => [(await import('./run.js')).registerRun] },
  { names: ['serve'], load: async () => [(await import('./serve.js')).registerServe] },
  { names: ['diff'], load: async () => [(await import('./diff.js')).registerDiff] },
  { names: ['controller'], load: async () => [(await import('./controller.js')).registerController] },
  { names: ['connector'], load: async () => [(await import('./connector.js')).registerConnector] },
  { names: ['console'], load: async () => [(await import('./console.js')).registerConsole] },
  { names: ['schema'], load: async () => [(await import('./schema.js')).registerSchema] },
];

/** The commands ARGV needs: the one it starts with; none for --version alone; all of them otherwise (help, an option first, a word no command has). */
function commandsFor(argv: string[]) {
  if (argv.length && argv.every((a) => a === '-v' || a === '--version')) return [];
  const named = COMMANDS.find((c) => c.names.includes(argv[0] ?? ''));
  return named ? [named] : COMMANDS;
}

/** The program with the commands ARGV needs (all of them by default). */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command('mdmops')
    .description('Declarative configuration plane for MDM infrastructure: validate, plan and reconcile a tenant from YAML.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const commands = argv ? commandsFor(argv) : COMMANDS;
  for (const registers of await Promise.all(commands.map((c) => c.load()))) for (const register of registers) register(program);
  const override = (cmd: Command) => cmd.commands.forEach((c) => override(c.exitOverride().showHelpAfterError('(run with --help for usage)')));
  override(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode; // commander printed it (help, version, usage errors)
    if (e instanceof UserError) {
      process.stderr.write(`mdmops: ${e.message}\n`);
      return e.exitCode;
    }
    if (isCorruptStore(e)) {
      process.stderr.write(`mdmops: ${corruptStoreMessage(e)}\n`);
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
