// mdmops diff --from REV --to REV: what would change between two revisions of the configuration in
// a git repository, for reviewers without access to the tenant. Both revisions are read from git's
// objects (never from the working tree), validated whole, and compared as plans are.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { Option, type Command } from 'commander';
import { formatDiagnostic } from '../config/diagnostics.js';
import type { Desired } from '../config/desired.js';
import { hasChanges } from '../engine/plan.js';
import type { SecretResolver } from '../config/secrets.js';
import { compareRevisions } from '../gitops/compare.js';
import { GitError, Repo, repoPath } from '../gitops/git.js';
import { defaultProviders } from '../providers/index.js';
import { MasterKey } from '../store/master-key.js';
import { UserError } from './errors.js';
import { formatOption } from './flags.js';
import { planJson, planMarkdown, planText } from './plan-format.js';
import { colourWanted } from './plan.js';
import { readInput } from '../config/input.js';

interface DiffOptions {
  from: string;
  to: string;
  repo: string;
  filename: string;
  output: string;
  format?: string;
  source: string;
  detailedExitcode?: boolean;
  color?: boolean;
}

/** Offline, no secret is known: secret fields compare by their refs only. */
const NO_SECRETS: SecretResolver = { resolve: async () => undefined, where: () => 'not read by diff' };

const FORMATS = ['text', 'json', 'markdown'];

export function registerDiff(program: Command) {
  program
    .command('diff')
    .description('Show what changes between two revisions of the configuration in a git repository, as a plan would, without a tenant store.')
    .requiredOption('--from <rev>', 'the revision before (a branch, tag, commit or expression such as origin/main or HEAD~1)')
    .option('--to <rev>', 'the revision after', 'HEAD')
    .option('--repo <path>', 'the git repository', '.')
    .option('-f, --filename <dir>', 'folder of the configuration inside the repository, relative to its top', '.')
    .addOption(formatOption(FORMATS))
    .addOption(new Option('--format <format>', 'same as --output').choices(FORMATS))
    .option('--source <name>', 'source name shown in the plan', 'default')
    .option('--detailed-exitcode', 'exit 0 when there are no changes, 2 when there are, 1 on error')
    .option('--no-color', 'plain text even on a terminal')
    .addHelpText('after', '\nExamples:\n  mdmops diff --from origin/main --to HEAD -f config\n  mdmops diff --from v1.4 --to v1.5 --repo ../mdm-config -f config --format markdown > diff.md')
    .action(async (opts: DiffOptions) => {
      const format = opts.format ?? opts.output;
      let path: string;
      try {
        path = repoPath(opts.filename);
      } catch (e) {
        throw new UserError(`-f ${(e as GitError).message}`);
      }
      const tmp = mkdtempSync(join(tmpdir(), 'mdmops-diff-'));
      try {
        let repo: Repo;
        let from: string;
        let to: string;
        try {
          repo = await Repo.open(opts.repo);
          from = await repo.resolve(opts.from);
          to = await repo.resolve(opts.to);
        } catch (e) {
          if (e instanceof GitError) throw new UserError(e.message);
          throw e;
        }
        const key = new MasterKey(randomBytes(32)); // only for digests of secrets, and none is read
        const read = async (rev: string, sha: string, name: string): Promise<Desired[]> => {
          const dir = join(tmp, name);
          const shown = path || '.';
          const done = await repo.checkout(sha, path, dir);
          if (done === 'not-a-folder') throw new UserError(`${rev}:${shown} is a file: give the folder holding the configuration with -f`);
          if (done === 'missing') {
            process.stderr.write(`mdmops: note: ${rev} has no folder ${shown}: compared as an empty configuration\n`);
            return [];
          }
          const label = (file: string) => `${rev}:${posix.join(path, relative(dir, file).split('\\').join('/'))}`;
          const input = await readInput([dir], NO_SECRETS, key, label);
          if ('diagnostics' in input) {
            for (const d of input.diagnostics) process.stderr.write(formatDiagnostic({ ...d, message: d.message.split(dir).join(`${rev}:${shown}`) }) + '\n');
            throw new UserError(`revision ${rev} is invalid (${input.diagnostics.length} error${input.diagnostics.length === 1 ? '' : 's'}): no diff`);
          }
          return input.desired;
        };
        const before = await read(opts.from, from, 'from');
        const after = await read(opts.to, to, 'to');
        // A folder in neither revision is a mistake (a typo), not two empty configurations.
        if (!existsSync(join(tmp, 'from')) && !existsSync(join(tmp, 'to'))) {
          throw new UserError(`-f ${path || '.'}: neither ${opts.from} nor ${opts.to} has this folder: give the folder holding the configuration, relative to the top of the repository`);
        }
        const plan = await compareRevisions(before, after, { source: opts.source, revision: `${opts.from}..${opts.to}`, providers: defaultProviders(), key });
        if (format === 'json') process.stdout.write(JSON.stringify({ ...(planJson(plan) as object), from: { rev: opts.from, commit: from }, to: { rev: opts.to, commit: to } }, null, 2) + '\n');
        else if (format === 'markdown') process.stdout.write(planMarkdown(plan, 'mdmops diff'));
        else process.stdout.write(planText(plan, colourWanted(process.stdout, opts.color)));
        if (plan.problems.length) throw new UserError(`the diff has ${plan.problems.length} problem${plan.problems.length === 1 ? '' : 's'}: apply would refuse revision ${opts.to}`);
        process.exitCode = opts.detailedExitcode && hasChanges(plan) ? 2 : 0;
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
}
