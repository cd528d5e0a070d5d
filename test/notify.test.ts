// Notifications sent out by the long-running modes (--notify-url), as an administrator sets them
// up: mdmops serve POSTs each notification raised, raised again or resolved to a local receiver,
// which checks the HMAC signature; a failed delivery is retried; a restart sends nothing twice.
// The notification is a real one: a SqlProvisioning whose table does not exist yet (SqlSchemaMismatch),
// resolved once the table is made and the provisioning synced.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';
import { eventually } from './support/controller.js';
import { startMdmops, type RunningMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { eventOf, payloadOf } from '../src/server/notify.js';
import { freePort } from './servers/ports.js';
import { sessionCookie } from './support/console.js';

const SECRET = 'a-notification-signing-key';

interface Delivery {
  body: Record<string, any>;
  signed: boolean;
  id: string;
}

/** A webhook receiver: answers 503 to the first `failFirst` requests, then 200; keeps what it accepted. */
async function receiver(failFirst: number) {
  const accepted: Delivery[] = [];
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (refused < failFirst) {
        refused++;
        return res.writeHead(503).end();
      }
      const raw = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-mdmops-signature'] ?? ''));
      accepted.push({ body: JSON.parse(raw.toString()), signed: given.length === expected.length && timingSafeEqual(given, expected), id: String(req.headers['x-mdmops-delivery']) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/mdmops`, accepted, refusals: () => refused, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('mdmops serve --notify-url', () => {
  let entra: EntraEmulator;
  let hook: Awaited<ReturnType<typeof receiver>>;
  const ws = workspace();
  const app = join(ws.dir, 'app.db');
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_HR__URL: `sqlite:${app}`, MDMOPS_NOTIFY_SECRET: SECRET });
  let consolePort = 0;
  // The console's page of each notification's resource is linked from it (--console-url).
  const serve = () => startMdmops('serve', ws.dir, ['--interval', '1s', '--notify-url', hook.url, '--console-listen', `127.0.0.1:${consolePort}`, '--console-url', `http://127.0.0.1:${consolePort}/`], env());
  let served: RunningMdmops | undefined;

  beforeAll(async () => {
    [entra, hook, consolePort] = await Promise.all([startEntra({ users: 3 }), receiver(1), freePort()]);
    new Database(app).close();
    ws.write('config/hr.xml', readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8'));
    ws.write(
      'config/tenant.yaml',
      doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }`) +
        doc('SqlProvisioning', 'hr', 'managementAgentExport: { file: hr.xml }\nconnection: { driver: SQLite, urlSecretRef: { name: hr, key: url } }\nanchor: { column: employee_id }\nattributeMapping:\n  - { attribute: Mail, column: email, from: userEmailAddress }\nsourceRef: { kind: EntraIdSource, name: contoso }'),
    );
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    expect(ws.run(['sync', 'EntraIdSource/contoso'], env()).code).toBe(0);
  });
  afterAll(async () => {
    await served?.stop();
    await Promise.all([entra?.stop(), hook?.close()]);
  });

  it('sends a notification once raised, signed, after retrying a receiver that failed', async () => {
    served = await serve();
    const raised = await eventually('the raised notification delivered', () => hook.accepted.find((d) => d.body.reason === 'SqlSchemaMismatch'));
    expect(hook.refusals()).toBe(1);
    expect(raised.signed).toBe(true);
    expect(raised.body).toMatchObject({ event: 'raised', tenant: 'default', resource: 'SqlProvisioning/hr', severity: 'Error', count: expect.any(Number), firstSeen: expect.any(String), lastSeen: expect.any(String) });
    expect(raised.body.message).toContain('table users does not exist');
    // The link opens the resource's page in the console, once signed in.
    expect(raised.body.link).toBe(`http://127.0.0.1:${consolePort}/ui/resources/default/SqlProvisioning/hr`);
    const token = ws.run(['console', 'token', '--role', 'read-only', '--name', 'on-call']).stdout.trim();
    const cookie = await sessionCookie(`http://127.0.0.1:${consolePort}`, token);
    const page = await fetch(raised.body.link, { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>SqlProvisioning/hr · mdmops</title>');
    expect(JSON.stringify(hook.accepted)).not.toContain(app); // the connection URL is a secret
    await eventually('the retry in the log', () => served!.output().includes('notifications to http://127.0.0.1:') && served!.output().includes('failed (answered 503)'));
    expect(served.output()).not.toContain('/hooks/mdmops'); // a webhook's path may be its secret
  });

  it('sends it resolved once fixed, and nothing again after a restart', async () => {
    const db = new Database(app);
    db.exec('CREATE TABLE users (employee_id TEXT PRIMARY KEY, email TEXT)');
    db.close();
    expect(ws.run(['sync', 'SqlProvisioning/hr'], env()).code).toBe(0);
    const resolved = await eventually('the resolved notification delivered', () => hook.accepted.find((d) => d.body.event === 'resolved'));
    expect(resolved.body).toMatchObject({ reason: 'SqlSchemaMismatch', resource: 'SqlProvisioning/hr' });
    expect(resolved.signed).toBe(true);

    expect(await served!.stop()).toBe(0);
    const before = hook.accepted.length;
    served = await serve();
    // serve sends what is due at each look, before it says it looked: two looks are enough.
    const looks = new Set<string>();
    await served.waitFor('two looks of the restarted serve', (s) => {
      if (s.lastSyncCheck) looks.add(s.lastSyncCheck as string);
      return looks.size >= 2;
    });
    expect(hook.accepted.length).toBe(before);
    expect(new Set(hook.accepted.map((d) => d.id)).size).toBe(hook.accepted.length);
  });
});

describe('what is sent of a notification (pure policy)', () => {
  const n = { tenant: 't', kind: 'Space', name: 'emea', reason: 'R', severity: 'Warning' as const, message: 'm', count: 2, firstSeen: 'a', lastSeen: 'b', active: true };
  it.each([
    [true, undefined, 'raised'],
    [true, { active: true, lastSeen: 'a' }, undefined],
    [true, { active: false, lastSeen: 'a' }, 're-raised'],
    [false, { active: true, lastSeen: 'a' }, 'resolved'],
    [false, { active: false, lastSeen: 'a' }, undefined],
    [false, undefined, undefined],
  ])('active %s, delivered %j: %s', (active, delivered, event) => {
    expect(eventOf({ ...n, active }, delivered)).toBe(event);
  });
  it('has a body Slack and Teams webhooks take', () => {
    expect(payloadOf('raised', n, 'slack')).toEqual({ text: '[Warning] Space/emea (tenant t) raised: R: m' });
    expect(payloadOf('raised', n, 'slack', 'https://mdmops.example.com/admin')).toEqual({ text: '[Warning] Space/emea (tenant t) raised: R: m https://mdmops.example.com/admin/ui/resources/t/Space/emea' });
  });
  it('links to the console page only when told where the console is (--console-url)', () => {
    expect(payloadOf('resolved', n, 'json')).not.toHaveProperty('link');
    expect(payloadOf('resolved', { ...n, name: 'a b/c' }, 'json', 'https://mdmops.example.com/')).toMatchObject({ link: 'https://mdmops.example.com/ui/resources/t/Space/a%20b%2Fc' });
  });
});
