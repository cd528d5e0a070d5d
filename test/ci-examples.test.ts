// examples/ci: the GitHub Actions workflow and the pre-commit hooks parse, and the commands they run
// work: each step's script is run as Actions runs it (bash -eo pipefail, the step's environment with
// its ${{ }} expressions filled in) in a pull request's checkout, with mdmops on the PATH.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BIN_PATH, ROOT, NODE } from './support/cli.js';
import { git, makeRepos } from './support/git.js';
import { doc, workspace } from './support/workspace.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

const workflow = parse(readFileSync(join(ROOT, 'examples/ci/github-workflow.yml'), 'utf8'));
const steps: Step[] = workflow.jobs.plan.steps;
const step = (name: string) => steps.find((s) => s.name === name)!;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

const connector = (logLevel: string) => doc('Connector', 'paris-dc', `hosting: OnPremises\nlogLevel: ${logLevel}`);

describe('examples/ci', () => {
  const ws = workspace();
  const repos = makeRepos(ws.dir);
  ws.write('bin/mdmops', `#!/bin/sh\nexec "${NODE}" "${BIN_PATH}" "$@"\n`);
  chmodSync(join(ws.dir, 'bin/mdmops'), 0o755);
  const summary = join(ws.dir, 'summary.md');
  const key = randomBytes(32).toString('hex');
  const store = `sqlite:${join(ws.dir, 'tenant.db')}`;

  // The base branch, applied to a tenant store; then a pull request changing it, checked out as
  // actions/checkout does (fetch-depth 0: origin/main is there).
  repos.commit('Paris connector', { 'config/tenant.yaml': connector('Info') });
  repos.push('main');
  const applied = spawnSync(NODE, [BIN_PATH, 'apply', '-f', 'config', '--auto-approve'], { cwd: repos.clone, encoding: 'utf8', env: { ...process.env, MDMOPS_STORE: store, MDMOPS_MASTER_KEY: key } });
  git(repos.clone, 'checkout', '--quiet', '-b', 'raise-log-level');
  repos.commit('Raise the log level', { 'config/tenant.yaml': connector('Debug') });
  git(repos.clone, 'fetch', '--quiet', 'origin');

  /** ${{ expr }} filled in from what a pull_request event gives; an unknown expression fails the test. */
  const context: Record<string, string> = { 'github.base_ref': 'main', 'github.token': 'unused', 'github.repository': 'contoso/mdm-config', 'github.event.pull_request.number': '7' };
  const expand = (value: string, secrets: Record<string, string>) =>
    value.replace(/\$\{\{\s*([\w.]+)\s*\}\}/g, (_, expr: string) => {
      if (expr.startsWith('secrets.')) return secrets[expr.slice('secrets.'.length)] ?? '';
      if (!(expr in context)) throw new Error(`the test does not know \${{ ${expr} }}`);
      return context[expr]!;
    });
  const runStep = (s: Step, secrets: Record<string, string> = {}, extra: NodeJS.ProcessEnv = {}) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(ws.dir, 'bin')}:${process.env.PATH}`, GITHUB_STEP_SUMMARY: summary, NO_COLOR: '1', ...extra };
    for (const [k, v] of Object.entries({ ...workflow.env, ...s.env } as Record<string, string>)) env[k] = expand(String(v), secrets);
    const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', s.run!], { cwd: repos.clone, env, encoding: 'utf8', timeout: 540_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('is a pull-request workflow that can comment', () => {
    expect(applied.status, applied.stderr).toBe(0);
    expect(Object.keys(workflow.on)).toEqual(['pull_request']);
    expect(workflow.permissions).toEqual({ contents: 'read', 'pull-requests': 'write' });
    expect(steps.map((s) => s.name ?? s.uses)).toEqual(['actions/checkout@v4', 'actions/setup-node@v4', 'Install mdmops', 'Validate', 'Plan', 'Comment on the pull request']);
    expect(steps[0]!.with).toEqual({ 'fetch-depth': 0 });
    expect(step('Install mdmops').run).toBe(`npm install --global ./tools/mdmops-${pkg.version}.tgz`);
    // Every mdmops command the workflow names exists.
    const commands = new Set(steps.flatMap((s) => [...(s.run ?? '').matchAll(/\bmdmops (\w+)/g)].map((m) => m[1]!)));
    expect([...commands].sort()).toEqual(['diff', 'plan', 'validate']);
    for (const c of commands) expect(spawnSync(NODE, [BIN_PATH, c, '--help']).status, c).toBe(0);
    const comment = step('Comment on the pull request').run!;
    expect(comment).toContain('-F body=@plan.md');
    expect(comment).toContain('--body-file plan.md');
  });

  it('validates the pull request', () => {
    const r = runStep(step('Validate'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('valid: 1 resource in 1 file, 1 tenant');
  });

  it('writes the offline diff when the runner has no tenant store', () => {
    writeFileSync(summary, '');
    const r = runStep(step('Plan'));
    expect(r.code, r.stderr).toBe(0);
    const plan = readFileSync(join(repos.clone, 'plan.md'), 'utf8');
    expect(plan).toMatch(/^### mdmops diff\n\nSource `default`, revision `origin\/main\.\.HEAD`\./);
    expect(plan).toContain('```diff\n- spec.logLevel: Info\n+ spec.logLevel: Debug\n```');
    expect(plan.trim().endsWith('<!-- mdmops-plan -->')).toBe(true);
    expect(readFileSync(summary, 'utf8')).toBe(plan);
  });

  it('writes the plan against the tenant when the store is given', () => {
    const r = runStep(step('Plan'), { MDMOPS_STORE: store, MDMOPS_MASTER_KEY: key });
    expect(r.code, r.stderr).toBe(0);
    const plan = readFileSync(join(repos.clone, 'plan.md'), 'utf8');
    expect(plan).toMatch(/^### mdmops plan\n/);
    expect(plan).toContain('<summary><code>~ Connector/paris-dc (update)</code></summary>');
    expect(plan).toContain('| 0 | 1 | 0 | 0 | 0 | 0 |');
  });

  it('installs mdmops as its Install step says, from the package npm pack makes, and validates with it', () => {
    // The package, made in mdmops' repository and committed to the configuration's under tools/.
    mkdirSync(join(repos.clone, 'tools'), { recursive: true });
    const packed = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', join(repos.clone, 'tools')], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    expect(packed.status, packed.stderr).toBe(0);
    const prefix = join(ws.dir, 'npm-global');
    // Offline where npm's cache has the dependencies already (the install of this checkout filled it).
    const installed = runStep(step('Install mdmops'), {}, { npm_config_prefix: prefix, npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' });
    expect(installed.code, installed.stderr).toBe(0);
    const version = spawnSync(join(prefix, 'bin/mdmops'), ['--version'], { encoding: 'utf8' });
    expect(version.stdout.trim()).toBe(pkg.version);
    const validated = runStep(step('Validate'), {}, { PATH: `${join(prefix, 'bin')}:${process.env.PATH}` });
    expect(validated.code, validated.stderr).toBe(0);
    expect(validated.stdout).toContain('valid: 1 resource');
  }, 600_000);

  it('fails the check on an invalid pull request, saying where', () => {
    repos.commit('Typo', { 'config/tenant.yaml': connector('Debug').replace('logLevel', 'loglevel') });
    const r = runStep(step('Validate'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('config/tenant.yaml:7:3: Connector/paris-dc: spec.loglevel: unknown field "loglevel"');
    git(repos.clone, 'reset', '--quiet', '--hard', 'HEAD~1');
  });

  it('has pre-commit hooks that run validate on the whole configuration', () => {
    const local = parse(readFileSync(join(ROOT, 'examples/ci/pre-commit-config.yaml'), 'utf8')).repos[0].hooks[0];
    const published = parse(readFileSync(join(ROOT, 'examples/ci/.pre-commit-hooks.yaml'), 'utf8'))[0];
    expect(local).toMatchObject({ id: 'mdmops-validate', language: 'system', pass_filenames: false });
    expect(published).toMatchObject({ id: 'mdmops-validate', language: 'system', pass_filenames: false });
    const hook = (entry: string) => spawnSync('sh', ['-c', entry], { cwd: repos.clone, encoding: 'utf8', env: { ...process.env, PATH: `${join(ws.dir, 'bin')}:${process.env.PATH}` } });
    for (const entry of [local.entry, `${published.entry} ${published.args.join(' ')}`]) {
      expect(hook(entry).status, entry).toBe(0);
    }
    writeFileSync(join(repos.clone, 'config/tenant.yaml'), connector('Loud'));
    for (const entry of [local.entry, `${published.entry} ${published.args.join(' ')}`]) {
      const r = hook(entry);
      expect(r.status, entry).toBe(1);
      expect(r.stdout).toContain('config/tenant.yaml:7:13: Connector/paris-dc: spec.logLevel');
    }
  });
});
