// SQL provisioning in the controller, as a cluster user runs it: an EntraIdSource and a
// SqlProvisioning as custom resources, the database URL in a Secret, a real PostgreSQL. While the
// table is missing, the notification is sent out (--notify-url) by the leader; once the table is
// made, the leader's scheduled runs (syncInterval) write the rows, put back a row the application
// changed, and the custom resource's status follows each run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KINDS } from '../src/api/index.js';
import { ROOT } from './support/cli.js';
import { pgDb, type AppDb } from './support/app-db.js';
import { eventually, startController, type ControllerProcess } from './support/controller.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { freePort } from './servers/ports.js';
import { startKube, type KubeCluster } from './servers/kube.js';
import { startPostgres, type PostgresServer } from './servers/postgres.js';
import { postSignIn } from './support/console.js';

type Doc = Record<string, any>;

const SYSTEM_NS = 'mdmops-system';
const NS = 'hr-team';
const USERS = 8;

let kube: KubeCluster;
let entra: EntraEmulator;
let postgres: PostgresServer;
let app: AppDb;
let dir: string;
let controller: ControllerProcess;
/** What the notification receiver was sent. */
const notified: Doc[] = [];
let receiver: Server;
let consolePort = 0;

const doc = (kind: string, name: string, spec: Doc) => ({ apiVersion: 'mdmops.io/v1alpha1', kind, metadata: { name, namespace: NS }, spec });
const get = (kind: string, name: string): Doc => JSON.parse(kube.kubectl(['get', kind, name, '-n', NS, '-o', 'json']));
const emails = async () => Object.fromEntries((await app.rows('SELECT employee_id, email FROM users')).map((r) => [r.employee_id as string, r.email as string]));

beforeAll(async () => {
  [kube, entra, postgres] = await Promise.all([startKube(), startEntra({ users: USERS }), startPostgres()]);
  dir = mkdtempSync(join(tmpdir(), 'mdmops-controller-sql-'));
  app = await pgDb(postgres.url);
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      notified.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  kube.helm(['install', 'mdmops', join(ROOT, 'charts/mdmops'), '-n', SYSTEM_NS, '--create-namespace', '--set', 'console.enabled=true']);
  for (const def of KINDS) kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${def.plural}.mdmops.io`]);
  kube.kubectl(['create', 'namespace', NS]);
  kube.kubectl(['create', 'secret', 'generic', 'entra', '-n', NS, `--from-literal=client-secret=${entra.secret}`]);
  kube.kubectl(['create', 'secret', 'generic', 'hr-db', '-n', NS, `--from-literal=url=${postgres.url}`]);
  const resources = [
    doc('EntraIdSource', 'entra', { displayName: 'Entra', tenantId: entra.tenantId, clientId: entra.clientId, authorityHost: entra.url, graphEndpoint: entra.url, clientSecretRef: { name: 'entra', key: 'client-secret' }, syncInterval: '24h' }),
    doc('SqlProvisioning', 'hr', {
      managementAgentExport: { data: readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8') },
      connection: { driver: 'PostgreSQL', urlSecretRef: { name: 'hr-db', key: 'url' } },
      table: 'users',
      anchor: { attribute: 'EmployeeId', column: 'employee_id' },
      attributeMapping: [{ attribute: 'Mail', column: 'email', from: 'userEmailAddress' }],
      sourceRef: { kind: 'EntraIdSource', name: 'entra' },
      syncInterval: '2s',
    }),
  ];
  kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: resources }) });
  const sa = await kube.mintServiceAccountKubeconfig(SYSTEM_NS, 'mdmops');
  consolePort = await freePort();
  // The database listens on loopback, an internal address tenants may not reach unless allowed.
  controller = startController(
    ['--kubeconfig', sa, '--store', `sqlite:${join(dir, 'tenant.db')}`, '--sync-check', '1s', '--allow-internal-targets', '--notify-url', `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/notify`, '--console-listen', `127.0.0.1:${consolePort}`],
    await freePort(),
    { MDMOPS_MASTER_KEY_FILE: join(dir, 'master.key'), NODE_EXTRA_CA_CERTS: entra.caFile },
  );
}, 60 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await app?.close();
  receiver?.close();
  await Promise.all([kube?.stop(), entra?.stop(), postgres?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('sends out that the table is missing; once it is made, writes a row for each synced user, and says so in the status', async () => {
  const raised = await eventually('SqlSchemaMismatch sent out', () => notified.find((n) => n.reason === 'SqlSchemaMismatch' && n.event === 'raised'), 120_000);
  expect(raised).toMatchObject({ tenant: NS, resource: 'SqlProvisioning/hr', severity: 'Error' });
  expect(get('sqlprovisionings', 'hr').status.conditions.find((c: Doc) => c.type === 'Ready').status).toBe('False');

  await app.exec('CREATE TABLE users (employee_id text PRIMARY KEY, email text)');
  const hr = await eventually('SqlProvisioning/hr Ready with its rows', () => {
    const o = get('sqlprovisionings', 'hr');
    return o.status?.conditions?.find((c: Doc) => c.type === 'Ready')?.status === 'True' && o.status.rowCount === USERS && o;
  }, 120_000);
  expect(hr.status.lastRun).toMatchObject({ result: 'Done', failed: 0, conflicts: 0 });
  const rows = await emails();
  expect(Object.keys(rows)).toHaveLength(USERS);
  for (let i = 0; i < USERS; i++) expect(rows[entra.generatedUserId(i)]).toBe(entra.generatedUser(i).mail);
  await eventually('the resolution sent out', () => notified.find((n) => n.reason === 'SqlSchemaMismatch' && n.event === 'resolved'));
  expect(notified.filter((n) => n.reason === 'SqlSchemaMismatch').map((n) => n.event)).toEqual(['raised', 'resolved']);
});

it("puts back, on the leader's scheduled runs, a row the application changed; the status follows", async () => {
  const id = entra.generatedUserId(3);
  await app.exec(`UPDATE users SET email = 'changed-by-the-app@example.com' WHERE employee_id = '${id}'`);
  await eventually('the row put back', async () => (await emails())[id] === entra.generatedUser(3).mail || undefined, 60_000);
  await eventually("the scheduled run in the controller's log", () => /"msg":"synced SqlProvisioning\/[^"]*hr: \d+ rows \(0 inserted, 1 updated/.test(controller.log()) || undefined);
  const status = await eventually('the custom resource showing the run', () => {
    const s = get('sqlprovisionings', 'hr').status;
    return s?.lastRun?.updated === 1 && s;
  }, 60_000);
  expect(status.rowCount).toBe(USERS);
  // The database URL is a secret: in no status, Event or log line.
  const everything = [JSON.stringify(get('sqlprovisionings', 'hr')), kube.kubectl(['get', 'events', '-n', NS, '-o', 'json']), controller.log(), JSON.stringify(notified)].join('\n');
  expect(everything).not.toContain(postgres.url);
});

it('signs in to the console with a Kubernetes token: patch on every kind is a System Manager, list a System Read-Only, neither nobody', async () => {
  const plurals = KINDS.map((k) => k.plural).join(',');
  kube.kubectl(['create', 'clusterrole', 'mdmops-viewer', '--verb=get,list,watch', `--resource=${plurals.split(',').map((p) => `${p}.mdmops.io`).join(',')}`]);
  kube.kubectl(['create', 'clusterrole', 'mdmops-editor', '--verb=get,list,watch,patch,update', `--resource=${plurals.split(',').map((p) => `${p}.mdmops.io`).join(',')}`]);
  for (const [sa, role] of [['viewer', 'mdmops-viewer'], ['editor', 'mdmops-editor'], ['stranger', '']] as const) {
    kube.kubectl(['create', 'serviceaccount', sa, '-n', NS]);
    if (role) kube.kubectl(['create', 'clusterrolebinding', `${sa}-mdmops`, `--clusterrole=${role}`, `--serviceaccount=${NS}:${sa}`]);
  }
  const signIn = (sa: string) => postSignIn(`http://127.0.0.1:${consolePort}`, kube.kubectl(['create', 'token', sa, '-n', NS]).trim());
  const overview = async (res: Response) => (await fetch(`http://127.0.0.1:${consolePort}/ui/`, { headers: { cookie: res.headers.get('set-cookie')!.split(';')[0]! } })).text();

  const viewer = await signIn('viewer');
  expect(viewer.status).toBe(303);
  expect(await overview(viewer)).toContain(`system:serviceaccount:${NS}:viewer (System Read-Only)`);
  const editor = await signIn('editor');
  expect(await overview(editor)).toContain(`system:serviceaccount:${NS}:editor (System Manager)`);
  expect((await signIn('stranger')).status).toBe(401);
});
