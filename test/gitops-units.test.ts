// The run mode's small decisions, alone: who may call the webhook, what --listen and --path accept,
// and the ssh command git is given.
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseListen } from '../src/cli/flags.js';
import { shownUrl, sshCommand, urlProblem } from '../src/gitops/credentials.js';
import { repoPath } from '../src/gitops/git.js';
import { deliveryId, SeenDeliveries, webhookAuthorized } from '../src/gitops/webhook.js';

describe('webhookAuthorized', () => {
  const secret = 'shh-its-a-secret';
  const body = Buffer.from('{"ref":"refs/heads/main"}');
  const hmac = (key: string, b = body) => `sha256=${createHmac('sha256', key).update(b).digest('hex')}`;
  let reads = 0;
  const authorized = (headers: IncomingHttpHeaders, b: Buffer, key: string) => webhookAuthorized(headers, async () => (reads++, b), key);

  it("accepts GitHub's signature of the body, and nothing else in its place", async () => {
    expect(await authorized({ 'x-hub-signature-256': hmac(secret) }, body, secret)).toBe(true);
    expect(await authorized({ 'x-hub-signature-256': hmac(secret).toUpperCase().replace('SHA256', 'sha256') }, body, secret)).toBe(true);
    expect(await authorized({ 'x-hub-signature-256': hmac('other') }, body, secret)).toBe(false);
    expect(await authorized({ 'x-hub-signature-256': hmac(secret) }, Buffer.from('{"ref":"refs/heads/evil"}'), secret)).toBe(false);
    expect(await authorized({ 'x-hub-signature-256': 'sha256=abc' }, body, secret)).toBe(false);
    expect(await authorized({ 'x-hub-signature-256': `sha1=${'0'.repeat(40)}` }, body, secret)).toBe(false);
    // A signature that is present but wrong is not rescued by a token beside it.
    expect(await authorized({ 'x-hub-signature-256': hmac('other'), authorization: `Bearer ${secret}` }, body, secret)).toBe(false);
  });

  it('accepts the shared secret as a bearer token or a token header, without reading the body', async () => {
    reads = 0;
    for (const headers of [{ authorization: `Bearer ${secret}` }, { authorization: `bearer ${secret}` }, { 'x-mdmops-token': secret }, { 'x-gitlab-token': secret }]) {
      expect(await authorized(headers, body, secret), JSON.stringify(headers)).toBe(true);
    }
    for (const headers of [{}, { authorization: `Basic ${secret}` }, { authorization: 'Bearer shh' }, { 'x-mdmops-token': `${secret}x` }, { 'x-gitlab-token': '' }]) {
      expect(await authorized(headers, body, secret), JSON.stringify(headers)).toBe(false);
    }
    expect(reads).toBe(0);
  });

  it('accepts nobody when no secret is configured', async () => {
    expect(await authorized({ authorization: 'Bearer ' }, body, '')).toBe(false);
    expect(await authorized({ 'x-mdmops-token': '' }, body, '')).toBe(false);
  });

  it('tells a delivery seen before, among the last ones', () => {
    const seen = new SeenDeliveries(2);
    expect([seen.first('a'), seen.first('b'), seen.first('a'), seen.first('c'), seen.first('a')]).toEqual([true, true, false, true, true]);
    expect(deliveryId({ 'x-github-delivery': 'd1' })).toBe('d1');
    expect(deliveryId({ 'x-gitlab-event-uuid': 'g1' })).toBe('g1');
    expect(deliveryId({})).toBeUndefined();
  });
});

describe('run options', () => {
  it('reads --listen as [host]:port', () => {
    expect(parseListen(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListen('8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseListen('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListen('[::1]:9090')).toEqual({ host: '::1', port: 9090 });
    for (const bad of ['', 'localhost', ':99999', 'host:port']) expect(() => parseListen(bad), bad).toThrow(/expected \[HOST\]:PORT/);
  });

  it('keeps --path inside the repository', () => {
    expect(repoPath('.')).toBe('');
    expect(repoPath('./config/')).toBe('config');
    expect(repoPath('tenants/../config')).toBe('config');
    for (const bad of ['..', '../x', '/etc', 'a/../../b']) expect(() => repoPath(bad), bad).toThrow(/inside the repository/);
  });

  it('refuses a URL with a password or, over HTTP(S), a user part, without repeating it', () => {
    expect(urlProblem('https://user:tok3n@example.com/r.git')).toBe('--git https://example.com/r.git: the URL holds a password; put the token in a secret and name it with --git-secret');
    expect(urlProblem('https://ghp_tok3n@example.com/r.git')).toBe('--git https://example.com/r.git: the URL holds a user part, which may be a token; put the token (and the user name) in a secret and name it with --git-secret');
    expect(urlProblem('http://tok3n@example.com/r.git')).toContain('the URL holds a user part');
    expect(urlProblem('ssh://git@example.com/r.git')).toBeUndefined();
    expect(urlProblem('ssh://git:tok3n@example.com/r.git')).toContain('the URL holds a password');
    expect(urlProblem('https://example.com/r.git')).toBeUndefined();
    expect(urlProblem('git@github.com:contoso/config.git')).toBeUndefined();
    expect(urlProblem('/srv/git/config.git')).toBeUndefined();
  });

  it('shows a URL without its user part', () => {
    expect(shownUrl('https://tok3n@example.com/r.git')).toBe('https://example.com/r.git');
    expect(shownUrl('https://u:tok3n@example.com:8443/r.git')).toBe('https://example.com:8443/r.git');
    expect(shownUrl('https://example.com/r.git')).toBe('https://example.com/r.git');
    expect(shownUrl('git@github.com:contoso/config.git')).toBe('git@github.com:contoso/config.git');
  });

  it('gives ssh the key alone, checking the host strictly', () => {
    expect(sshCommand('/w/auth/identity', "/w/it's/known_hosts")).toBe(
      "ssh -i '/w/auth/identity' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o 'UserKnownHostsFile=/w/it'\\''s/known_hosts'",
    );
    expect(sshCommand('/k')).toBe("ssh -i '/k' -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes");
  });
});
