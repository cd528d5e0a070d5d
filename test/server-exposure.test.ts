// What mdmops run exposes to the network, tried as an attacker would. The status API shows the
// repository, commits, authors, files and resource names, so beyond loopback it answers only with a
// bearer token; health and metrics stay open for probes and scrapers. The webhook refuses an
// unknown sender before reading its body, ignores a delivery sent again, and a client that sends
// its headers slowly is cut off.
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { mdmops } from './support/cli.js';
import { makeRepos } from './support/git.js';
import { request, startRun } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

describe('the status API of mdmops run', () => {
  const ws = workspace();
  ws.write('config/a.yaml', doc('Space', 'emea', 'displayName: EMEA\npriority: 10\nmembers: { groups: [emea] }\nadmins: { groups: [emea-admins] }'));

  it('listens on loopback unless told otherwise', () => {
    expect(mdmops(['run', '--help']).stdout).toMatch(/--listen <\[host\]:port>[\s\S]*\(default: "127\.0\.0\.1:8080"\)/);
    expect(mdmops(['controller', '--help']).stdout).toMatch(/--listen <\[host\]:port>[\s\S]*\(default: "127\.0\.0\.1:8080"\)/);
  });

  it('refuses /status on every interface without a token, and keeps /healthz and /metrics open', async () => {
    const run = await startRun(ws.dir, ['--watch', 'config'], {}, '');
    try {
      await waitHealthy(run.base);
      const status = await request(`${run.base}/status`);
      expect(status.status).toBe(403);
      const body = await status.text();
      expect(body).toContain('--api-token-file');
      expect(body).not.toContain('emea');
      expect((await request(`${run.base}/metrics`)).status).toBe(200);
    } finally {
      await run.stop();
    }
  });

  it('answers /status on every interface only to the bearer of the token', async () => {
    const token = 'status-token-6a1f0c';
    const tokenFile = ws.write('api-token', `${token}\n`);
    const run = await startRun(ws.dir, ['--watch', 'config', '--api-token-file', tokenFile], {}, '');
    try {
      await waitHealthy(run.base);
      for (const authorization of [undefined, 'Bearer wrong', `Basic ${Buffer.from(`x:${token}`).toString('base64')}`, `Bearer ${token}x`]) {
        const refused = await request(`${run.base}/status`, { headers: authorization ? { authorization } : {} });
        expect(refused.status, authorization).toBe(401);
        expect(refused.headers.get('www-authenticate')).toBe('Bearer');
        expect(await refused.text()).not.toContain('emea');
      }
      const allowed = await request(`${run.base}/status`, { headers: { authorization: `Bearer ${token}` } });
      expect(allowed.status).toBe(200);
      expect((await allowed.json()).source).toBeDefined();
      expect(run.output()).not.toContain(token);
    } finally {
      await run.stop();
    }
  });
});

describe('the webhook of mdmops run --git', () => {
  const ws = workspace();
  const repos = makeRepos(ws.dir);
  const SECRET = 'hook-secret-77c0e1';
  ws.write('hook.secret', `${SECRET}\n`);

  it('refuses an unknown sender before reading its body, ignores a delivery sent again, and cuts off slow headers', async () => {
    repos.commit('One space', { 'config/a.yaml': doc('Space', 'emea', 'displayName: EMEA\npriority: 10\nmembers: { groups: [emea] }\nadmins: { groups: [emea-admins] }') });
    repos.push('main');
    const run = await startRun(ws.dir, ['--git', repos.origin, '--path', 'config', '--interval', '1h', '--webhook-secret-file', 'hook.secret']);
    try {
      await run.waitFor('the first revision', (s) => s.applied?.revision);
      const { port } = new URL(run.base);

      // 10 MiB announced, 1 KiB sent: the 401 comes before the rest is asked for.
      const early = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/hooks/git', headers: { authorization: 'Bearer wrong', 'content-length': String(10 << 20) } }, (res) => {
          resolve(res.statusCode ?? 0);
          res.resume();
          req.destroy();
        });
        req.on('error', (e) => (e.message.includes('socket hang up') ? undefined : reject(e)));
        req.write('x'.repeat(1024));
      });
      expect(early).toBe(401);

      // The same delivery twice: one fetch.
      const deliver = () => request(`${run.base}/hooks/git`, { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, 'x-github-delivery': 'delivery-1' }, body: '{}' });
      expect((await deliver()).status).toBe(202);
      const again = await deliver();
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ accepted: false, reason: 'delivery delivery-1 was seen before' });
      const metrics = await run.metrics();
      expect(metrics).toContain('mdmops_webhook_requests_total{result="accepted"} 1');
      expect(metrics).toContain('mdmops_webhook_requests_total{result="duplicate"} 1');

      // Headers never finished: once the headers' time is up the server answers 408 and closes.
      const answer = await new Promise<string>((resolve, reject) => {
        let got = '';
        const socket = connect(Number(port), '127.0.0.1', () => socket.write('POST /hooks/git HTTP/1.1\r\nHost: x\r\n'));
        socket.on('data', (chunk: Buffer) => (got += chunk.toString()));
        socket.on('error', reject);
        socket.on('close', () => resolve(got));
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await run.stop();
    }
  }, 60_000);
});

async function waitHealthy(base: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await request(`${base}/healthz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base}/healthz never answered`);
}
