// mdmops plan -f PATH: what apply would do, without changing anything.
import type { Command } from 'commander';
import { makePlan, hasChanges, type Plan } from '../engine/plan.js';
import { UserError } from './errors.js';
import { formatOption } from './flags.js';
import { planJson, planMarkdown, planText } from './plan-format.js';
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics.js';
import { validatePaths, type ValidationResult } from '../config/validate.js';
import { checkInput, loadInput } from './input.js';
import { openSession, storeOptions, type Session, type StoreOptions } from './session.js';

export interface PlanOptions extends StoreOptions {
  filename: string[];
  source: string;
  revision?: string;
  allowMassDelete?: boolean;
}

export function planOptions(cmd: Command): Command {
  return storeOptions(
    cmd
      .requiredOption('-f, --filename <path...>', 'files or directories of the whole configuration; - reads standard input')
      .option('--source <name>', 'name of this configuration: resources it applied and no longer holds are pruned', 'default')
      .option('--revision <rev>', 'revision recorded in the inventory and audit log (default: a digest of the input)')
      .option('--allow-mass-delete', `allow a prune of more than 10 resources, or 5 or more and more than 25% of the source's inventory`),
  );
}

export async function planFor(session: Session, opts: PlanOptions, checked: ValidationResult): Promise<Plan> {
  const input = await loadInput(checked, session);
  return makePlan(session, input.desired, { source: opts.source, revision: opts.revision ?? input.digest, allowMassDelete: opts.allowMassDelete });
}

export function colourWanted(stream: NodeJS.WriteStream, flag: boolean | undefined): boolean {
  return flag !== false && stream.isTTY === true && !process.env.NO_COLOR;
}

export function registerPlan(program: Command) {
  planOptions(program.command('plan').description('Show what apply would create, update, replace or delete, field by field. Changes nothing.'))
    .addOption(formatOption(['text', 'json', 'markdown']))
    .option('--detailed-exitcode', 'exit 0 when there are no changes, 2 when there are, 1 on error')
    .option('--no-color', 'plain text even on a terminal')
    .addHelpText('after', '\nExamples:\n  mdmops plan -f examples/tenant\n  mdmops plan -f config/ -o markdown > plan.md\n  mdmops plan -f config/ --detailed-exitcode || [ $? -eq 2 ]')
    .action(async (opts: PlanOptions & { output: string; detailedExitcode?: boolean; color?: boolean }) => {
      // A plan read by a machine (a pull-request comment) says why it could not be made, in its format.
      const checked = opts.output === 'text' ? checkInput(opts.filename) : validatePaths(opts.filename);
      if (checked.diagnostics.length) {
        process.stdout.write(opts.output === 'json' ? JSON.stringify({ formatVersion: 1, valid: false, errors: checked.diagnostics }, null, 2) + '\n' : invalidMarkdown(checked.diagnostics));
        throw new UserError(`the configuration is invalid (${checked.diagnostics.length} error${checked.diagnostics.length === 1 ? '' : 's'}): nothing was planned`);
      }
      const session = await openSession(opts, { readOnly: true });
      try {
        const plan = await planFor(session, opts, checked);
        if (opts.output === 'json') process.stdout.write(JSON.stringify(planJson(plan), null, 2) + '\n');
        else if (opts.output === 'markdown') process.stdout.write(planMarkdown(plan));
        else process.stdout.write(planText(plan, colourWanted(process.stdout, opts.color)));
        if (plan.problems.length) throw new UserError(`the plan has ${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'}: apply would refuse it`);
        process.exitCode = opts.detailedExitcode && hasChanges(plan) ? 2 : 0;
      } finally {
        await session.close();
      }
    });
}

function invalidMarkdown(diagnostics: Diagnostic[]): string {
  const n = diagnostics.length;
  return `### mdmops plan\n\n**The configuration is invalid** (${n} error${n === 1 ? '' : 's'}): nothing can be planned.\n\n\`\`\`\n${diagnostics.map(formatDiagnostic).join('\n')}\n\`\`\`\n`;
}
