// The mdmops command as a user meets it: help, version, exit codes, output formats, bad invocations.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { clean, mdmops, ROOT } from './support/cli.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

describe('mdmops', () => {
  it('prints help for every command', () => {
    for (const args of [['--help'], ['validate', '--help'], ['schema', '--help'], ['help', 'validate'], ['-h', 'sync']]) {
      const run = mdmops(args);
      expect(run.code, args.join(' ')).toBe(0);
      expect(run.stdout).toMatch(/^Usage: mdmops/);
    }
    // Each command's module is loaded only when it runs; help, even with a command after it, lists them all.
    for (const args of [['--help'], ['-h', 'sync']]) expect(mdmops(args).stdout, args.join(' ')).toMatch(/validate[\s\S]*sync[\s\S]*controller[\s\S]*schema/);
  });

  it('loads the client of a server only for the commands that talk to it', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mdmops-load-'));
    onTestFinished(() => rmSync(cwd, { recursive: true, force: true }));
    const loaded = (args: string[]) => {
      const r = spawnSync(process.execPath, ['--import', join(ROOT, 'test/support/package-log.mjs'), join(ROOT, 'bin/mdmops.js'), ...args], { cwd, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return [...r.stderr.matchAll(/^package (\S+)$/gm)].map((m) => m[1]);
    };
    // plan and status read a store: one is made first.
    expect(mdmops(['apply', '-f', join(ROOT, 'examples/tenant/spaces.yaml'), '--auto-approve'], { cwd }).code).toBe(0);
    const servers = ['@kubernetes/client-node', 'acme-client', '@azure/msal-node', 'pg', 'ldapts'];
    // Nor what only run, diff and the connector use.
    const others = ['simple-git', 'chokidar', 'yazl'];
    for (const args of [['validate', '-f', join(ROOT, 'examples/tenant')], ['plan', '-f', join(ROOT, 'examples/tenant')], ['status'], ['sync', '--help']]) {
      const packages = loaded(args);
      expect(packages).toContain('zod'); // the log works
      expect(packages.filter((p) => [...servers, ...others].includes(p!)), args[0]).toEqual([]);
    }
    // sync reads no configuration: no YAML parser; --version loads no command.
    expect(loaded(['sync', '--help'])).not.toContain('yaml');
    expect(loaded(['--version'])).toEqual(['commander']);
  });

  it('prints its version', () => {
    expect(mdmops(['--version']).stdout.trim()).toBe(pkg.version);
  });

  it('refuses bad invocations with a message and no stack trace', () => {
    const cases: [string[], RegExp][] = [
      [['deploy'], /unknown command 'deploy'/],
      [['validate'], /required option '-f, --filename <path...>' not specified/],
      [['validate', '-f', 'no/such/dir'], /no\/such\/dir: no such file or directory/],
      [['validate', '-f', 'examples/tenant', '-o', 'yaml'], /argument 'yaml' is invalid\. expected text, json/],
      [['schema', 'Conector'], /"Conector" is not a kind; did you mean Connector\?/],
      [['apply', '-f', 'examples/tenant', '--concurrency', '0'], /--concurrency 0: expected a whole number of at least 1/],
      [['audit', '--limit', 'ten'], /--limit ten: expected a whole number of at least 1/],
      [['run', '--watch', 'examples/tenant', '--interval', 'soon'], /--interval soon: expected a duration such as 500ms, 30s, 1m or 1h/],
      [['controller', '--listen', 'localhost'], /--listen localhost: expected \[HOST\]:PORT/],
    ];
    for (const [args, message] of cases) {
      const run = mdmops(args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stdout + run.stderr).toMatch(message);
      expect(clean(run)).toBe(true);
    }
  });
});

describe('mdmops validate', () => {
  it('reads standard input with -f -', () => {
    const text = readFileSync(join(ROOT, 'examples/invalid/unknown-field.yaml'));
    const run = mdmops(['validate', '-f', '-'], { input: text });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('<stdin>:8:3: Connector/paris-dc: spec.loglevel: unknown field "loglevel"');
    const good = mdmops(['validate', '-f', '-'], { input: readFileSync(join(ROOT, 'examples/tenant/spaces.yaml')) });
    expect(good.stdout).toMatch(/^valid: 2 resources in 1 file, 1 tenant/);
  });

  it('gives machine-readable results with -o json, never echoing a secret', () => {
    const run = mdmops(['validate', '-f', 'examples/invalid/inline-secret-in-secret-ref.yaml', '-o', 'json']);
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out.valid).toBe(false);
    expect(out.files).toBe(1);
    expect(out.resources).toEqual([{ kind: 'Connector', namespace: 'default', name: 'paris-dc', file: 'examples/invalid/inline-secret-in-secret-ref.yaml', line: 2 }]);
    expect(out.errors).toEqual([{
      file: 'examples/invalid/inline-secret-in-secret-ref.yaml', line: 16, column: 23, resource: 'CertificateAuthority/corp-scep', field: 'spec.challengeSecretRef',
      message: 'spec.challengeSecretRef: a secret value is written inline; secretRef takes the name and key of a Secret, never the value',
      hint: expect.stringContaining('challengeSecretRef: { name: <secret-name>, key: <key> }'), code: 'inline-secret',
    }]);
    expect(run.stdout + run.stderr).not.toContain('7f3c9a-challenge-value');
    for (const format of ['text', 'json']) {
      const other = mdmops(['validate', '-f', 'examples/invalid/inline-secret.yaml', '-o', format]);
      expect(other.stdout).toContain('bindPassword');
      expect(other.stdout + other.stderr).not.toContain('Sup3r-Secr3t-Passw0rd');
    }
  });

  it('walks directories recursively for .yaml and .yml, skipping hidden folders and other files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    mkdirSync(join(dir, 'sub/deeper'), { recursive: true });
    mkdirSync(join(dir, '.git'));
    const c = (n: string) => `apiVersion: mdmops.io/v1alpha1\nkind: Connector\nmetadata: { name: ${n} }\nspec: {}\n`;
    writeFileSync(join(dir, 'a.yaml'), c('a'));
    writeFileSync(join(dir, 'sub/b.yml'), c('b'));
    writeFileSync(join(dir, 'sub/deeper/c.YAML'), c('c'));
    writeFileSync(join(dir, 'sub/notes.txt'), 'not yaml: [');
    writeFileSync(join(dir, '.git/config.yaml'), 'not: [valid');
    const run = mdmops(['validate', '-f', dir, '-o', 'json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).resources.map((r: { name: string }) => r.name)).toEqual(['a', 'b', 'c']);
    const empty = mkdtempSync(join(tmpdir(), 'mdmops-'));
    expect(mdmops(['validate', '-f', empty]).stdout).toContain('no *.yaml or *.yml files in this directory');
  });

  it('refuses an oversized file without reading it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    writeFileSync(join(dir, 'big.yaml'), `a: "${'x'.repeat(5 * 1024 * 1024)}"\n`);
    const run = mdmops(['validate', '-f', join(dir, 'big.yaml')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/big\.yaml: file is 5242886 bytes, above the limit of 4194304/);
  });

  it('refuses special files, broken symlinks and endless input; reads a file given twice once', () => {
    expect(mdmops(['validate', '-f', '/dev/zero']).stdout).toContain('/dev/zero: not a regular file');
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    symlinkSync('nowhere.yaml', join(dir, 'broken.yaml'));
    const run = mdmops(['validate', '-f', dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('broken.yaml: cannot read: no such file (a broken symlink?)');
    expect(clean(run)).toBe(true);
    expect(mdmops(['validate', '-f', '-'], { input: 'a'.repeat(5 * 1024 * 1024) }).stdout).toContain('<stdin>: input is above the limit of 4194304 bytes');
    const twice = mdmops(['validate', '-f', 'examples/tenant/spaces.yaml', '-f', 'examples/tenant', '-f', './examples/tenant/spaces.yaml']);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(/^valid: 15 resources in 7 files/);
    const bad = mdmops(['schema', '--write', join(ROOT, 'package.json', 'sub')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^mdmops: cannot write .*package\.json\/sub\/schemas\/connector\.json: ENOTDIR/);
  });

  it('refuses a binary file and a wrong kind after a good document, naming file and line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    writeFileSync(join(dir, 'image.yaml'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00]));
    writeFileSync(join(dir, 'mixed.yaml'), 'apiVersion: mdmops.io/v1alpha1\nkind: Connector\nmetadata: { name: ok }\nspec: {}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n');
    const run = mdmops(['validate', '-f', dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`${join(dir, 'image.yaml')}:3:1: binary file (it contains NUL bytes); expected YAML text`);
    expect(run.stdout).toContain(`${join(dir, 'mixed.yaml')}:7:7: unknown kind "Deployment"`);
    expect(clean(run)).toBe(true);
  });
});

describe('mdmops schema', () => {
  it('lists the kinds and prints a JSON Schema or a CRD', () => {
    expect(mdmops(['schema']).stdout.split('\n').filter(Boolean)).toHaveLength(9);
    expect(JSON.parse(mdmops(['schema', 'CoreSyncTarget']).stdout).title).toBe('CoreSyncTarget');
    expect(JSON.parse(mdmops(['schema', 'ca']).stdout).title).toBe('CertificateAuthority');
    expect(mdmops(['schema', 'Space', '--crd']).stdout).toMatch(/^apiVersion: apiextensions.k8s.io\/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: spaces.mdmops.io/);
  });

  it('writes the generated files and finds stale, missing and stray ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    expect(mdmops(['schema', '--check', dir]).stderr).toContain('schemas/connector.json: missing');
    expect(mdmops(['schema', '--write', dir]).code).toBe(0);
    expect(mdmops(['schema', '--check', dir]).code).toBe(0);
    writeFileSync(join(dir, 'schemas/space.json'), '{}');
    writeFileSync(join(dir, 'charts/mdmops/crds/widgets.mdmops.io.yaml'), '');
    const run = mdmops(['schema', '--check', dir]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('schemas/space.json: stale');
    expect(run.stderr).toContain('charts/mdmops/crds/widgets.mdmops.io.yaml: no longer generated');
    expect(run.stderr).toContain('run: npm run generate');
  });
});
