// The connector gateway with a certificate of the user's own CA (--gateway-cert and --gateway-key
// instead of the one the store makes): the token pins that CA, and the agent trusts the gateway
// through it alone.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issueCert, makeCa } from './servers/certs.js';
import { freePort } from './servers/ports.js';
import { startAgent } from './support/agent.js';
import { startMdmops, type RunningMdmops, type Status } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

describe('a connector gateway with a certificate of your own CA', () => {
  const ws = workspace();
  let serve: RunningMdmops | undefined;
  afterAll(() => serve?.stop());

  it('has its agent pin that CA, enrol and connect', async () => {
    ws.write('config/dc.yaml', doc('Connector', 'dc', 'hosting: OnPremises'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const ca = await makeCa(ws.dir, 'contoso-ca', 'Contoso Gateway CA');
    const leaf = await issueCert(ws.dir, ca, 'gateway', { subject: '/CN=gw.contoso.test', usage: 'serverAuth', san: 'IP:127.0.0.1,DNS:gw.contoso.test' });
    const chain = ws.write('gateway-chain.pem', readFileSync(leaf.cert, 'utf8') + readFileSync(ca.cert, 'utf8'));
    const port = await freePort();
    serve = await startMdmops('serve', ws.dir, ['--gateway-listen', `127.0.0.1:${port}`, '--gateway-cert', chain, '--gateway-key', leaf.key, '--interval', '1h']);
    await serve.waitFor('the gateway', () => serve!.output().includes('connector gateway listening'));

    const token = ws.run(['connector', 'token', 'Connector/dc']);
    expect(token.code, token.stderr).toBe(0);
    const agent = startAgent(undefined, ['--server', `https://127.0.0.1:${port}`, '--token-file', ws.write('dc.token', token.stdout), '--state-dir', join(ws.dir, 'agent')]);
    try {
      await agent.waitForLine(/connected to the gateway/);
      await serve.waitFor('Connector/dc Ready', (s: Status) => s.resources.some((r: { resource: string; ready: string }) => r.resource === 'Connector/dc' && r.ready === 'True'));
      // What the agent trusts from now on is your CA, as the token pinned it.
      const kept = new X509Certificate(readFileSync(join(ws.dir, 'agent/gateway-ca.pem')));
      expect(kept.fingerprint256).toBe(new X509Certificate(readFileSync(ca.cert)).fingerprint256);
    } finally {
      await agent.stop();
    }
  });

  it('says which files go together when one is missing', () => {
    const alone = ws.run(['serve', '--gateway-listen', '127.0.0.1:0', '--gateway-cert', 'gateway-chain.pem']);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('--gateway-cert and --gateway-key go together');
  });
});
