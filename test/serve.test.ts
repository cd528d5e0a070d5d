// mdmops serve: the long-running mode on the tenant store alone. Configuration comes from
// mdmops apply; serve answers health, metrics and the status API, and syncs the identity sources on
// their syncInterval, against the Entra ID emulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { mdmopsAsync } from './support/cli.js';
import { request, startMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

let entra: EntraEmulator;
beforeAll(async () => {
  entra = await startEntra({ users: 25, groups: 2 });
});
afterAll(() => entra?.stop());

describe('mdmops serve', () => {
  const ws = workspace();
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile });

  it('serves the store applied to it, and syncs its identity sources on their syncInterval', async () => {
    ws.write(
      'config/entra.yaml',
      doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }\nsyncInterval: 1m`) +
        doc('Space', 'emea', 'displayName: EMEA\npriority: 1\nmembers: { groups: [emea] }\nadmins: { groups: [emea-admins] }'),
    );
    const applied = await mdmopsAsync(['apply', '-f', 'config', '--auto-approve'], { cwd: ws.dir, env: env() });
    expect(applied.code, applied.stderr).toBe(0);
    // Nothing synced yet: apply records the source, serve syncs it.
    expect(JSON.parse((await mdmopsAsync(['users', '-o', 'json'], { cwd: ws.dir })).stdout)).toEqual([]);

    const served = await startMdmops('serve', ws.dir, ['--interval', '1s'], env());
    const synced = await served.waitFor('the source synced', (s) => s.sources?.find((x: { source: string; userCount: number | null }) => x.source === 'EntraIdSource/contoso' && x.userCount === 25));
    expect(synced.lastSyncTime).toEqual(expect.any(String));
    expect((await request(`${served.base}/healthz`)).status).toBe(200);
    expect((await request(`${served.base}/readyz`)).status).toBe(200);
    const status = await served.status();
    expect(status).toMatchObject({ mode: 'serve', summary: { resources: 2 } });
    expect(status.resources.map((r: { resource: string }) => r.resource).sort()).toEqual(['EntraIdSource/contoso', 'Space/emea']);
    expect(await served.metrics()).toMatch(/mdmops_serve_sync_rounds_total\{result="synced"\} 1/);
    expect(JSON.parse((await mdmopsAsync(['users', '-o', 'json'], { cwd: ws.dir })).stdout)).toHaveLength(25);
    // Not due again within its syncInterval: one round only, however often it looks.
    await served.waitFor('another look', (s) => s.lastSyncCheck && Date.parse(s.lastSyncCheck) > Date.parse(synced.lastSyncTime) + 1500);
    expect(await served.metrics()).toMatch(/mdmops_serve_sync_rounds_total\{result="synced"\} 1\b/);

    expect(await served.stop()).toBe(0);
    expect(served.output()).toContain('"msg":"stopped"');
    expect(served.output()).not.toContain(entra.secret);
  });

  it('refuses a bad --interval in one line', async () => {
    const r = await mdmopsAsync(['serve', '--interval', 'soon'], { cwd: ws.dir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--interval soon: expected a duration such as 500ms, 30s, 1m or 1h');
  });
});
