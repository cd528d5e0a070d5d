// mdmops run --git against a real repository: each valid commit is applied, an invalid one never
// is (the last good revision stays in force), the webhook starts a round only when signed, and a
// force-push and a deleted branch are reported.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { git, makeRepos } from './support/git.js';
import { request, startRun, type RunningMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const SECRET = 'hook-secret-5d1f0c2a';

const config = (logLevel: string, extra = '') =>
  doc('Connector', 'paris-dc', `hosting: OnPremises\nlogLevel: ${logLevel}`) +
  doc('Space', 'emea', 'displayName: EMEA\npriority: 10\nmembers: { groups: [emea] }\nadmins: { groups: [emea-admins] }') +
  doc('Space', 'apac', 'displayName: APAC\npriority: 20\nmembers: { groups: [apac] }\nadmins: { groups: [apac-admins] }') +
  extra;

const signed = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

describe('mdmops run --git', () => {
  const ws = workspace();
  const repos = makeRepos(ws.dir);
  ws.write('hook.secret', `${SECRET}\n`);
  const shas = {} as Record<'v1' | 'v2' | 'v3' | 'v4' | 'v5', string>;
  let run: RunningMdmops;

  const hook = (headers: Record<string, string>, body = '{"ref":"refs/heads/live"}') =>
    request(`${run.base}/hooks/git`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const audit = () => JSON.parse(ws.run(['audit', '-o', 'json', '--limit', '500']).stdout) as { action: string; kind: string; name: string; revision: string; detail: Record<string, unknown> }[];
  const notifications = (all = false) => JSON.parse(ws.run(['notifications', '-o', 'json', ...(all ? ['--all'] : [])]).stdout) as { kind: string; name: string; reason: string; active: boolean; message: string }[];
  const connector = () => JSON.parse(ws.run(['status', 'Connector/paris-dc', '-o', 'json']).stdout) as { spec: { logLevel: string }; revision: string };

  it('applies the branch head and records its commit and subject', async () => {
    shas.v1 = repos.commit('Add the Paris connector and two spaces', { 'config/tenant.yaml': config('Info') });
    repos.push('main');
    repos.push('live');
    run = await startRun(ws.dir, ['--git', repos.origin, '--branch', 'live', '--path', 'config', '--interval', '1h', '--webhook-secret-file', 'hook.secret']);
    const applied = await run.waitFor('the first revision', (s) => s.applied?.revision === shas.v1 && s.applied);
    expect(applied.subject).toBe('Add the Paris connector and two spaces');
    expect(applied.author).toBe('Alice Admin <alice@contoso.com>');
    expect((await request(`${run.base}/readyz`)).status).toBe(200);
    expect((await request(`${run.base}/healthz`)).status).toBe(200);

    const status = await run.status();
    expect(status).toMatchObject({ mode: 'git', branch: 'live', path: 'config', repository: repos.origin, partial: null, problems: [] });
    expect(status.summary).toEqual({ resources: 3, ready: 2, notReady: 1 }); // the connector waits for its agent
    expect(status.resources.map((r: { resource: string }) => r.resource).sort()).toEqual(['Connector/paris-dc', 'Space/apac', 'Space/emea']);

    const entries = audit();
    const creates = entries.filter((e) => e.action === 'create');
    expect(creates.length).toBe(3);
    for (const e of creates) expect(e).toMatchObject({ revision: shas.v1, detail: { subject: 'Add the Paris connector and two spaces', author: 'Alice Admin <alice@contoso.com>' } });
    expect(entries.find((e) => e.action === 'apply-revision')).toMatchObject({ kind: 'Source', name: 'default', revision: shas.v1 });
    expect(connector().revision).toBe(shas.v1);
  });

  it('starts a round on a signed webhook only, and never applies an invalid commit', async () => {
    shas.v2 = repos.commit('Raise the log level (typo)', { 'config/tenant.yaml': config('Info').replace('logLevel: Info', 'loglevel: Debug') });
    repos.push('live');

    // Unsigned, wrongly signed, or with the wrong token: refused, and nothing is fetched.
    const refused: Record<string, string>[] = [{}, { 'x-hub-signature-256': signed('{"ref":"refs/heads/live"}', 'not-the-secret') }, { authorization: 'Bearer not-the-secret' }, { 'x-hub-signature-256': 'sha256=zz' }];
    for (const headers of refused) {
      expect((await hook(headers)).status).toBe(401);
    }
    expect((await run.status()).head.revision).toBe(shas.v1);
    expect(await run.metrics()).toContain('mdmops_webhook_requests_total{result="unauthorized"} 4');

    const body = '{"ref":"refs/heads/live","after":"x"}';
    const accepted = await hook({ 'x-hub-signature-256': signed(body), 'x-github-event': 'push' }, body);
    expect(accepted.status).toBe(202);
    const attempt = await run.waitFor('the invalid commit to be looked at', (s) => s.lastAttempt?.revision === shas.v2 && s.lastAttempt);
    expect(attempt.result).toBe('invalid');
    expect(attempt.errors).toEqual([expect.objectContaining({ file: 'config/tenant.yaml', line: 7, resource: 'Connector/paris-dc', field: 'spec.loglevel', code: 'unknown-field' })]);

    const status = await run.status();
    expect(status.applied.revision).toBe(shas.v1);
    expect(status.lastGood.revision).toBe(shas.v1);
    expect(status.lastError.reason).toBe('InvalidRevision');
    expect(status.lastError.message).toContain('config/tenant.yaml:7:3: Connector/paris-dc');
    expect(status.lastError.message).toContain(`revision ${shas.v1.slice(0, 7)} ("Add the Paris connector and two spaces") stays in force`);
    expect(await run.metrics()).toContain('mdmops_git_sync_failures_total{reason="InvalidRevision"} 1');
    expect(run.output()).toContain('config/tenant.yaml:7:3: Connector/paris-dc: spec.loglevel: unknown field \\"loglevel\\"');

    const open = notifications().filter((n) => n.kind === 'Source');
    expect(open).toEqual([expect.objectContaining({ name: 'default', reason: 'InvalidRevision', active: true })]);
    // Nothing of the invalid commit reached the tenant.
    expect(connector()).toMatchObject({ spec: { logLevel: 'Info' }, revision: shas.v1 });
    expect(audit().filter((e) => e.revision === shas.v2).map((e) => `${e.action} ${e.kind}`)).toEqual(['refuse-revision Source']);
  });

  it('applies the next valid commit, and the problem is resolved', async () => {
    shas.v3 = repos.commit('Raise the log level', { 'config/tenant.yaml': config('Debug') });
    repos.push('live');
    expect((await hook({ authorization: `Bearer ${SECRET}` })).status).toBe(202);
    await run.waitFor('the fixed commit', (s) => s.applied?.revision === shas.v3);
    expect(connector()).toMatchObject({ spec: { logLevel: 'Debug' }, revision: shas.v3 });
    expect(notifications().filter((n) => n.kind === 'Source')).toEqual([]);
    expect(notifications(true).find((n) => n.reason === 'InvalidRevision')?.active).toBe(false);
    expect(audit().find((e) => e.action === 'update')).toMatchObject({ name: 'paris-dc', revision: shas.v3, detail: { subject: 'Raise the log level', fields: ['spec.logLevel'] } });
    expect((await run.status()).problems).toEqual([]);
  });

  it('applies a force-pushed head that is valid, and says history was rewritten', async () => {
    git(repos.clone, 'reset', '--quiet', '--hard', shas.v1);
    shas.v4 = repos.commit('Warn level instead', { 'config/tenant.yaml': config('Warn') });
    repos.push('live', true);
    expect((await hook({ 'x-mdmops-token': SECRET })).status).toBe(202);
    await run.waitFor('the force-pushed head', (s) => s.applied?.revision === shas.v4);
    expect(connector().spec.logLevel).toBe('Warn');
    const rewritten = notifications().find((n) => n.reason === 'HistoryRewritten');
    expect(rewritten?.message).toContain(`does not descend from revision ${shas.v3.slice(0, 7)}`);
    expect(await run.metrics()).toContain('mdmops_history_rewrites_total 1');
    expect(audit().find((e) => e.action === 'apply-revision' && e.revision === shas.v4)?.detail).toMatchObject({ historyRewritten: true });
  });

  it('keeps the last good revision when the branch is deleted, and follows it again when it is back', async () => {
    git(repos.clone, 'push', '--quiet', 'origin', '--delete', 'live');
    expect((await hook({ 'x-gitlab-token': SECRET })).status).toBe(202);
    const problem = await run.waitFor('the deleted branch to be reported', (s) => s.problems.find((p: { reason: string }) => p.reason === 'BranchNotFound'));
    expect(problem.message).toContain(`branch live is not in ${repos.origin}`);
    expect(problem.message).toContain(`revision ${shas.v4.slice(0, 7)} ("Warn level instead") stays in force`);
    const status = await run.status();
    expect(status.applied.revision).toBe(shas.v4);
    expect(connector()).toMatchObject({ spec: { logLevel: 'Warn' }, revision: shas.v4 });
    expect(notifications().map((n) => n.reason)).toContain('BranchNotFound');
    expect(await run.metrics()).toContain('mdmops_git_sync_failures_total{reason="BranchNotFound"} 1');

    shas.v5 = repos.commit('Back to Info', { 'config/tenant.yaml': config('Info') });
    repos.push('live');
    expect((await hook({ authorization: `Bearer ${SECRET}` })).status).toBe(202);
    await run.waitFor('the branch back', (s) => s.applied?.revision === shas.v5);
    // A commit that follows the one in force: nothing is wrong any more.
    expect(notifications().filter((n) => n.kind === 'Source')).toEqual([]);
    expect(connector().spec.logLevel).toBe('Info');
  });

  it('exits 0 on SIGTERM', async () => {
    expect(await run.stop('SIGTERM')).toBe(0);
    expect(run.output()).toContain('SIGTERM: stopping');
  });
});
