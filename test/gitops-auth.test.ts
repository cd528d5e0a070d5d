// A private repository over HTTPS-style basic authentication (git http-backend behind a server that
// demands the token): the token is read from a secret, reaches git through its askpass, and never
// appears in logs, in the cache's git config, in any file mdmops keeps, or in a credential store.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mdmops } from './support/cli.js';
import { makeRepos } from './support/git.js';
import { startRun } from './support/run.js';
import { doc, workspace } from './support/workspace.js';
import { startGitHttp, type GitHttpServer } from './servers/git-http.js';
import { startSshd, type Sshd } from './servers/sshd.js';

const TOKEN = 'ghp_t0kenThatMustNeverLeak_9f8e7d6c';

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('mdmops run --git with a token', () => {
  const ws = workspace();
  const repos = makeRepos(join(ws.dir, 'srv'));
  const home = join(ws.dir, 'home');
  // The user's own git configuration stores credentials: mdmops must not let git use it.
  ws.write('home/.gitconfig', '[credential]\n\thelper = store\n');
  ws.write('.mdmops/secrets/git/username', 'ci-bot\n');
  ws.write('.mdmops/secrets/git/password', `${TOKEN}\n`);
  let server: GitHttpServer;

  beforeAll(async () => {
    repos.commit('One connector', { 'config/connectors.yaml': doc('Connector', 'paris-dc', 'hosting: OnPremises') });
    repos.push('main');
    server = await startGitHttp(join(ws.dir, 'srv'), 'ci-bot', TOKEN);
  });
  afterAll(() => server?.close());

  it('fetches with the token from the secret, and the token leaks nowhere', async () => {
    const url = `${server.url}/origin.git`;
    const run = await startRun(ws.dir, ['--git', url, '--path', 'config', '--interval', '1h', '--git-secret', 'git'], { HOME: home });
    const applied = await run.waitFor('the first revision', (s) => s.applied);
    expect(applied.subject).toBe('One connector');
    expect(server.counts.accepted).toBeGreaterThan(0);
    expect(server.counts.refused).toBeGreaterThan(0); // git asks without credentials first, then uses askpass

    const cache = join(ws.dir, '.mdmops/run/default');
    const config = readFileSync(join(cache, 'repo.git/config'), 'utf8');
    expect(config).toContain(`url = ${url}`);
    expect(await run.stop()).toBe(0);

    expect(run.output()).not.toContain(TOKEN);
    const kept = filesUnder(join(ws.dir, '.mdmops')).filter((f) => !f.startsWith(join(ws.dir, '.mdmops/secrets')));
    expect(kept.length).toBeGreaterThan(10);
    for (const f of kept) expect(readFileSync(f).includes(TOKEN), f).toBe(false);
    expect(existsSync(join(cache, 'auth'))).toBe(false); // the askpass script goes with the process
    expect(existsSync(join(home, '.git-credentials'))).toBe(false);
  });

  it('reports a wrong token as a failed fetch, without showing either token', async () => {
    const wrong = 'ghp_wrongWrongWrong_0000';
    const run = await startRun(ws.dir, ['--git', `${server.url}/origin.git`, '--path', 'config', '--git-secret', 'git', '--once'], {
      HOME: home,
      MDMOPS_SECRET_GIT__PASSWORD: wrong, // the environment wins over the secrets folder
    });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/"reason":"FetchFailed".*cannot fetch branch main of http:\/\/127\.0\.0\.1:\d+\/origin\.git: Authentication failed/);
    expect(run.output()).not.toContain(wrong);
    expect(run.output()).not.toContain(TOKEN);
  });

  it('refuses a URL holding a password, without echoing it', () => {
    const r = mdmops(['run', '--git', `https://ci-bot:${TOKEN}@git.example.com/contoso/config.git`, '--once'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mdmops: --git https://git.example.com/contoso/config.git: the URL holds a password; put the token in a secret and name it with --git-secret');
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it('refuses a token in the URL\'s user part (https://TOKEN@host/), without echoing it', () => {
    const r = mdmops(['run', '--git', `https://${TOKEN}@git.example.com/contoso/config.git`, '--once'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mdmops: --git https://git.example.com/contoso/config.git: the URL holds a user part, which may be a token; put the token (and the user name) in a secret and name it with --git-secret');
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    // Nothing kept it: the cache's remote config (from the runs before) does not hold it.
    const config = join(ws.dir, '.mdmops/run/default/repo.git/config');
    if (existsSync(config)) expect(readFileSync(config, 'utf8')).not.toContain(TOKEN);
  });

  it('says where to put a git secret that is missing', () => {
    const r = mdmops(['run', '--git', 'https://git.example.com/contoso/config.git', '--git-secret', 'nope', '--once'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--git-secret nope: the git secret "nope" has neither a password');
    expect(r.stderr).toContain('.mdmops/secrets/nope/password or set MDMOPS_SECRET_NOPE__PASSWORD');
  });
});

describe('mdmops run --git over SSH with a key', () => {
  const ws = workspace();
  const repos = makeRepos(join(ws.dir, 'srv'));
  let sshd: Sshd;
  let url: string;

  beforeAll(async () => {
    repos.commit('One connector', { 'config/connectors.yaml': doc('Connector', 'paris-dc', 'hosting: OnPremises') });
    repos.push('main');
    sshd = await startSshd();
    url = `ssh://${sshd.user}@127.0.0.1:${sshd.port}${repos.origin}`;
    ws.write('.mdmops/secrets/deploy-key/identity', sshd.clientKey);
    ws.write('.mdmops/secrets/deploy-key/known_hosts', sshd.knownHosts);
  });
  afterAll(() => sshd?.stop());

  it('fetches with the key from the secret, checking the host key; the key is kept only while it runs', async () => {
    const run = await startRun(ws.dir, ['--git', url, '--path', 'config', '--interval', '1h', '--git-secret', 'deploy-key']);
    expect((await run.waitFor('the first revision', (s) => s.applied)).subject).toBe('One connector');
    const identity = join(ws.dir, '.mdmops/run/default/auth/identity');
    expect(statSync(identity).mode & 0o777).toBe(0o600);
    expect(await run.stop()).toBe(0);
    expect(existsSync(identity)).toBe(false);
    const keyBody = sshd.clientKey.split('\n')[1]!;
    expect(run.output()).not.toContain(keyBody);
    for (const f of filesUnder(join(ws.dir, '.mdmops/run'))) expect(readFileSync(f, 'utf8').includes(keyBody), f).toBe(false);
  });

  it('refuses a server whose host key is not the one in known_hosts', async () => {
    const run = await startRun(ws.dir, ['--git', url, '--path', 'config', '--git-secret', 'deploy-key', '--once'], { MDMOPS_SECRET_DEPLOY_KEY__KNOWN_HOSTS: sshd.wrongKnownHosts });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/"reason":"FetchFailed".*Host key verification failed/);
  });
});
