// mdmops diff between two revisions of a real repository, without a tenant store: read from git's
// objects (never the working tree), validated whole, compared as plan compares, in plan's formats.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { clean } from './support/cli.js';
import { git, makeRepos } from './support/git.js';
import { doc, workspace } from './support/workspace.js';

const connector = (logLevel: string) => doc('Connector', 'paris-dc', `hosting: OnPremises\nlogLevel: ${logLevel}`);
const ca = (key: string) => doc('CertificateAuthority', 'root', `type: Local\nsubject: { commonName: Contoso Root }\nkeyAlgorithm: ${key}`);
const space = (name: string, priority: number) => doc('Space', name, `displayName: ${name}\npriority: ${priority}\nmembers: { groups: [${name}] }\nadmins: { groups: [${name}-admins] }`);
const scep = doc('CertificateAuthority', 'corp-scep', 'type: ScepOnPremises\nurl: http://ndes.corp.contoso.com/certsrv/mscep/mscep.dll\nconnectorRef: { name: paris-dc }\nchallengeSecretRef: { name: corp-scep, key: challenge }');

describe('mdmops diff', () => {
  const ws = workspace();
  const repos = makeRepos(ws.dir);
  const diff = (args: string[], env?: NodeJS.ProcessEnv) => ws.run(['diff', '--repo', repos.clone, ...args], env);
  const v1 = repos.commit('first', { 'config/tenant.yaml': connector('Info') + ca('ECDSA-P256') + space('emea', 1) + space('apac', 2) + space('latam', 3) });
  const v2 = repos.commit('second', { 'config/tenant.yaml': connector('Debug') + ca('RSA-3072') + space('emea', 1) + space('apac', 2) + scep, 'README.md': 'notes' });

  it('shows updates, replacements, creations and deletions as plan does', () => {
    const r = diff(['--from', v1, '--to', v2, '-f', 'config']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('~ Connector/paris-dc (update)\n    ~ spec.logLevel: Info -> Debug');
    expect(r.stdout).toContain('-/+ CertificateAuthority/root (replace: spec.keyAlgorithm cannot change in place)');
    expect(r.stdout).toContain('+ CertificateAuthority/corp-scep (create)');
    expect(r.stdout).toContain('- Space/latam (delete)');
    expect(r.stdout).toContain('Plan: 1 to create, 1 to update, 1 to replace, 1 to delete, 0 to orphan, 2 unchanged.');
    // Secrets are never read: the secret field is compared by its ref, and no value can appear.
    expect(r.stdout).toContain('+ spec.challengeSecretRef.name: corp-scep');
    expect(r.stdout).not.toContain('masked');
  });

  it('writes markdown and JSON like plan, with the commits compared', () => {
    const md = diff(['--from', 'HEAD~1', '--to', 'HEAD', '-f', 'config', '--format', 'markdown']);
    expect(md.stdout).toMatch(/^### mdmops diff\n\nSource `default`, revision `HEAD~1\.\.HEAD`\./);
    expect(md.stdout).toContain('| 1 | 1 | 1 | 1 | 0 | 2 |');
    expect(md.stdout).toContain('<summary><code>~ Connector/paris-dc (update)</code></summary>');
    const json = JSON.parse(diff(['--from', 'HEAD~1', '-f', 'config', '-o', 'json']).stdout);
    expect(json).toMatchObject({ formatVersion: 1, hasChanges: true, from: { rev: 'HEAD~1', commit: v1 }, to: { rev: 'HEAD', commit: v2 } });
    expect(json.summary).toEqual({ create: 1, update: 1, replace: 1, delete: 1, orphan: 0, 'no-op': 2 });
    expect(json.changes.find((c: { resource: string }) => c.resource === 'Connector/paris-dc')).toMatchObject({ action: 'update', diffs: [{ path: 'spec.logLevel', before: 'Info', after: 'Debug' }], file: 'HEAD:config/tenant.yaml', line: 1 });
  });

  it('exits like plan --detailed-exitcode', () => {
    expect(diff(['--from', v1, '--to', v2, '-f', 'config', '--detailed-exitcode']).code).toBe(2);
    const same = diff(['--from', v2, '--to', v2, '-f', 'config', '--detailed-exitcode']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain('No changes: 5 resources up to date.');
  });

  it('shows labels only when they change', () => {
    const labelled = (priority: number, team: string) => space('emea', priority).replace('metadata:\n', `metadata:\n  labels: { team: ${team} }\n`);
    const l1 = repos.commit('labelled', { 'config/tenant.yaml': labelled(1, 'a') });
    const l2 = repos.commit('priority', { 'config/tenant.yaml': labelled(2, 'a') });
    const l3 = repos.commit('team', { 'config/tenant.yaml': labelled(2, 'b') });
    const priority = diff(['--from', l1, '--to', l2, '-f', 'config']).stdout;
    expect(priority).toContain('~ spec.priority: 1 -> 2');
    expect(priority).not.toContain('metadata');
    expect(diff(['--from', l2, '--to', l3, '-f', 'config']).stdout).toContain('~ metadata.labels.team: a -> b');
    git(repos.clone, 'reset', '--quiet', '--hard', v2);
  });

  it('reads commits, not the working tree', () => {
    writeFileSync(join(repos.clone, 'config/tenant.yaml'), connector('Trace'));
    const r = diff(['--from', 'HEAD', '--to', 'HEAD', '-f', 'config']);
    expect(r.stdout).toContain('No changes');
    git(repos.clone, 'checkout', '--', 'config/tenant.yaml');
  });

  it('refuses an invalid revision, naming the revision, file, line and resource', () => {
    const bad = repos.commit('typo', { 'config/tenant.yaml': connector('Info').replace('logLevel', 'loglevel') });
    const r = diff(['--from', v2, '--to', bad, '-f', 'config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${bad}:config/tenant.yaml:7:3: Connector/paris-dc: spec.loglevel: unknown field "loglevel"`);
    expect(r.stderr).toContain(`mdmops: revision ${bad} is invalid (1 error): no diff`);
    expect(clean(r)).toBe(true);
    git(repos.clone, 'reset', '--quiet', '--hard', v2);
  });

  it('compares with an empty configuration where the folder does not exist yet', () => {
    const r = diff(['--from', `${v1}~0`, '--to', v2, '-f', 'config/sub']);
    expect(r.stderr).toContain(`note: ${v1}~0 has no folder config/sub: compared as an empty configuration`);
    const root = repos.commit('empty root', { 'config/tenant.yaml': null });
    const created = diff(['--from', root, '--to', v2, '-f', 'config']);
    expect(created.stdout).toContain('Plan: 5 to create, 0 to update');
    expect(created.stderr).toContain(`note: ${root} has no folder config: compared as an empty configuration`);
  });

  it('says what is wrong with a bad repository, revision or folder', () => {
    const cases: [string[], string][] = [
      [['diff', '--repo', ws.dir, '--from', 'HEAD'], `${ws.dir} is not a git repository`],
      [['diff', '--repo', repos.clone, '--from', 'no-such-branch'], 'no-such-branch: no such revision'],
      [['diff', '--repo', repos.clone, '--from', 'HEAD', '-f', '../elsewhere'], '-f ../elsewhere: give a folder inside the repository'],
      [['diff', '--repo', repos.clone, '--from', v2, '--to', v2, '-f', 'README.md'], 'is a file: give the folder holding the configuration with -f'],
      [['diff', '--repo', repos.clone, '--from', v1, '--to', v2, '-f', 'confg'], `-f confg: neither ${v1} nor ${v2} has this folder`],
    ];
    for (const [args, message] of cases) {
      const r = ws.run(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toContain(message);
      expect(clean(r)).toBe(true);
    }
    expect(existsSync(join(ws.dir, '.mdmops'))).toBe(false); // no store was opened or made
  });
});
