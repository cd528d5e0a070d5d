// Two `mdmops controller` processes with leader election against a real kube-apiserver, both with
// the chart's ServiceAccount token and one shared store: only the leader writes; when the leader is
// killed (SIGKILL, in the middle of its work) the other takes the Lease once it expires and finishes;
// a leader whose Lease is taken from it exits.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from './support/cli.js';
import { eventually, startController, type ControllerProcess } from './support/controller.js';
import { freePort } from './servers/ports.js';
import { startKube, type KubeCluster } from './servers/kube.js';

type Doc = Record<string, any>;

const CHART = join(ROOT, 'charts/mdmops');
const SYSTEM_NS = 'mdmops-system';
const NS = 'ha';
const LEASE = 'mdmops-controller';

let kube: KubeCluster;
let dir: string;
const controllers: Record<string, ControllerProcess> = {};

// Spaces' priorities must differ within a tenant.
const space = (name: string, i: number) => ({ apiVersion: 'mdmops.io/v1alpha1', kind: 'Space', metadata: { name, namespace: NS }, spec: { displayName: name, priority: i + 1, members: { groups: [`${name}-devices`] }, admins: { groups: [`${name}-admins`] } } });
const apply = (docs: Doc[]) => kube.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) });
const spaces = (): Doc[] => JSON.parse(kube.kubectl(['get', 'spaces', '-n', NS, '-o', 'json'])).items;
const condition = (o: Doc, type = 'Ready'): Doc | undefined => o.status?.conditions?.find((c: Doc) => c.type === type);
const ready = (o: Doc) => o.status?.conditions?.some((c: Doc) => c.type === 'Ready' && c.status === 'True') === true;
const holder = (): string | undefined => JSON.parse(kube.kubectl(['get', 'lease', LEASE, '-n', SYSTEM_NS, '-o', 'json', '--ignore-not-found']) || '{}').spec?.holderIdentity;

async function start(name: string, sa: string): Promise<void> {
  controllers[name] = startController(
    ['--kubeconfig', sa, '--namespace', NS, '--store', `sqlite:${join(dir, 'tenant.db')}`, '--leader-elect', '--lease-namespace', SYSTEM_NS, '--lease-name', LEASE,
      '--lease-duration', '4s', '--renew-deadline', '3s', '--retry-period', '500ms', '--resync', '1m'],
    await freePort(),
    { POD_NAME: name, MDMOPS_MASTER_KEY_FILE: join(dir, 'master.key') },
  );
}

beforeAll(async () => {
  kube = await startKube();
  dir = mkdtempSync(join(tmpdir(), 'mdmops-controller-ha-'));
  // As the chart runs the controller with --namespace: with watchNamespaces, whose Roles it needs.
  kube.kubectl(['create', 'namespace', NS]);
  kube.helm(['install', 'mdmops', CHART, '-n', SYSTEM_NS, '--create-namespace', '--set', `watchNamespaces={${NS}}`]);
  for (const f of readdirSync(join(CHART, 'crds'))) {
    kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${parseAllDocuments(readFileSync(join(CHART, 'crds', f), 'utf8'))[0]!.toJS().metadata.name}`]);
  }
  const sa = await kube.mintServiceAccountKubeconfig(SYSTEM_NS, 'mdmops');
  await start('controller-a', sa);
  // The first holds the Lease before the second starts, so which one leads is known.
  await eventually('controller-a leads', () => holder() === 'controller-a' || undefined);
  await start('controller-b', sa);
}, 60 * 60_000);

afterAll(async () => {
  for (const c of Object.values(controllers)) await c.stop();
  await kube?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('two controllers with leader election', () => {
  it('only the leader reconciles and writes; the other stands by, ready', async () => {
    const { 'controller-a': a, 'controller-b': b } = controllers as Record<string, ControllerProcess>;
    await eventually('both ready', async () => ((await a!.get('/readyz')).status === 200 && (await b!.get('/readyz')).status === 200) || undefined, 20_000);
    apply(['emea', 'americas', 'apac'].map((n, i) => space(n, i)));
    await eventually('three Ready spaces', () => (spaces().filter(ready).length === 3) || undefined, 20_000).catch((e) => {
      throw new Error(`${e.message}\n${a!.log().slice(-3000)}\n${JSON.stringify(spaces().map((o) => o.status))}`);
    });
    expect(await a!.metric('mdmops_controller_leader')).toBe(1);
    expect(await b!.metric('mdmops_controller_leader')).toBe(0);
    expect(await a!.metric('mdmops_controller_api_writes_total', { resource: 'spaces/status' })).toBeGreaterThanOrEqual(3);
    // The standby has written nothing at all: no status, no finalizer, no Event, no Lease.
    expect(await b!.metric('mdmops_controller_api_writes_total')).toBe(0);
    expect(await b!.metric('mdmops_controller_reconciles_total')).toBe(0);
    expect(holder()).toBe('controller-a');
  });

  it('when the leader is killed mid-work, the other takes the Lease and finishes the work', async () => {
    const { 'controller-a': a, 'controller-b': b } = controllers as Record<string, ControllerProcess>;
    const names = Array.from({ length: 30 }, (_, i) => `team-${i}`);
    const before = await a!.metric('mdmops_controller_reconciles_total', { kind: 'Space' });
    apply(names.map((n, i) => space(n, i + 3)));
    // Killed as soon as it has started on the batch, without a chance to hand the Lease back.
    await eventually('the leader at work', async () => (await a!.metric('mdmops_controller_reconciles_total', { kind: 'Space' })) > before || undefined);
    a!.child.kill('SIGKILL');
    await a!.exited;
    expect(holder()).toBe('controller-a'); // still named in the Lease: only its expiry lets another in
    // Work that only the next leader can do.
    const later = ['late-0', 'late-1', 'late-2'];
    apply(later.map((n, i) => space(n, i + 100)));

    await eventually('controller-b leads', () => holder() === 'controller-b' || undefined);
    expect(await b!.metric('mdmops_controller_leader')).toBe(1);
    expect(b!.log()).toContain('became the leader');
    const total = names.length + later.length + 3;
    await eventually(`all ${total} Ready`, () => (spaces().filter(ready).length === total) || undefined);
    for (const o of spaces()) expect(o.status.observedGeneration, o.metadata.name).toBe(o.metadata.generation);
    expect(await b!.metric('mdmops_controller_api_writes_total', { resource: 'spaces/status' })).toBeGreaterThanOrEqual(later.length);
    const lease = JSON.parse(kube.kubectl(['get', 'lease', LEASE, '-n', SYSTEM_NS, '-o', 'json']));
    expect(lease.spec.leaseTransitions).toBeGreaterThanOrEqual(1);
  });

  it('reconciles a resource again when a Secret it names changes (the leader watches Secrets; its resync is a minute away)', async () => {
    // A PKCS#12 certificate, opened with the password in a Secret.
    const openssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'wifi.key', '-out', 'wifi.pem', '-subj', '/CN=wifi', '-days', '30']);
    openssl(['pkcs12', '-export', '-inkey', 'wifi.key', '-in', 'wifi.pem', '-passout', 'pass:right', '-certpbe', 'PBE-SHA1-3DES', '-keypbe', 'PBE-SHA1-3DES', '-macalg', 'sha1', '-out', 'wifi.p12']);
    const secret = (password: string) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'wifi', namespace: NS }, stringData: { password } });
    apply([
      secret('right'),
      { apiVersion: 'mdmops.io/v1alpha1', kind: 'CertificateConfiguration', metadata: { name: 'wifi', namespace: NS },
        spec: { uploaded: { format: 'PKCS12', certificate: { data: readFileSync(join(dir, 'wifi.p12')).toString('base64') }, passwordSecretRef: { name: 'wifi', key: 'password' } } } },
    ]);
    const cc = () => condition(JSON.parse(kube.kubectl(['get', 'certificateconfiguration', 'wifi', '-n', NS, '-o', 'json'])));
    await eventually('wifi Ready', () => cc()?.status === 'True' || undefined, 20_000);
    apply([secret('wrong')]);
    const c = await eventually('wifi refused with the wrong password', () => (cc()?.reason === 'CertificateInvalid' ? cc() : undefined), 20_000);
    expect(c!.message).toContain('wrong password');
    expect(controllers['controller-b']!.log()).not.toMatch(/"(right|wrong)"/);
  });

  it('a leader whose Lease is taken from it stops leading and exits 1, to be restarted as a candidate', async () => {
    const b = controllers['controller-b']!;
    expect(holder()).toBe('controller-b');
    // Another holder, renewed now: the leader can no longer renew it and must give up within its renew deadline (3s).
    const now = new Date().toISOString().replace('Z', '000Z');
    kube.kubectl(['patch', 'lease', LEASE, '-n', SYSTEM_NS, '--type', 'merge', '-p', JSON.stringify({ spec: { holderIdentity: 'intruder', renewTime: now, leaseDurationSeconds: 60 } })]);
    expect(await b.exited).toBe(1);
    expect(b.log()).toContain('lost the lease');
    expect(holder()).toBe('intruder');
  });
});
