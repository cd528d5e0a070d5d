// mdmops controller end to end against a real kube-apiserver: the chart's CRDs and RBAC installed
// with helm, examples/kubernetes applied with kubectl, and the controller started from the CLI
// with a token of the chart's ServiceAccount (not an administrator), so the RBAC is proven enough.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { mdmops, ROOT } from './support/cli.js';
import { eventually, startController, type ControllerProcess } from './support/controller.js';
import { startAgent } from './support/agent.js';
import { freePort } from './servers/ports.js';
import { KubeToolError, startKube, type KubeCluster } from './servers/kube.js';

type Doc = Record<string, any>;

const CHART = join(ROOT, 'charts/mdmops');
const SYSTEM_NS = 'mdmops-system';
const NS = 'contoso';
const EXAMPLES = join(ROOT, 'examples/kubernetes');
const examples: Doc[] = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLES, f), 'utf8')).map((d) => d.toJS() as Doc))
  .filter((d) => d?.apiVersion === 'mdmops.io/v1alpha1');

/** What each example resource settles on: the connector waits for its agent, which never dials in here. */
const expected = (d: Doc) => (d.kind === 'Connector' ? { status: 'False', reason: 'AgentNotConnected' } : { status: 'True' });

let kube: KubeCluster;
let dir: string;
let controller: ControllerProcess;
let gatewayPort: number;
const storeArgs = () => ['--store', `sqlite:${join(dir, 'tenant.db')}`];
const keyFile = () => join(dir, 'keys', 'master.key');

const get = (kind: string, name: string): Doc => JSON.parse(kube.kubectl(['get', kind, name, '-n', NS, '-o', 'json']));
const tryGet = (kind: string, name: string): Doc | undefined => {
  const out = kube.kubectl(['get', kind, name, '-n', NS, '-o', 'json', '--ignore-not-found']);
  return out.trim() ? JSON.parse(out) : undefined;
};
const condition = (o: Doc | undefined, type = 'Ready'): Doc | undefined => o?.status?.conditions?.find((c: Doc) => c.type === type);
/** The tenant store's view, read with the CLI (the store is SQLite: reads beside the controller are fine). */
const stored = (): Doc[] => {
  const r = mdmops(['status', '-o', 'json', '-n', NS, ...storeArgs()], { env: { MDMOPS_MASTER_KEY_FILE: keyFile() } });
  if (r.code !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout).items;
};
/** Writes to the API other than Lease renewals. */
// One scrape: Lease renewals go on between two scrapes and would skew a difference of them.
const writes = () => controller.metric('mdmops_controller_api_writes_total', {}, { resource: 'leases' });

beforeAll(async () => {
  kube = await startKube();
  dir = mkdtempSync(join(tmpdir(), 'mdmops-controller-'));
  kube.helm(['install', 'mdmops', CHART, '-n', SYSTEM_NS, '--create-namespace']);
  for (const f of readdirSync(join(CHART, 'crds'))) {
    const name = parseAllDocuments(readFileSync(join(CHART, 'crds', f), 'utf8'))[0]!.toJS().metadata.name;
    kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${name}`]);
  }
  kube.kubectl(['create', 'namespace', NS]);
  kube.kubectl(['apply', '-n', NS, '-f', EXAMPLES]);
  const sa = await kube.mintServiceAccountKubeconfig(SYSTEM_NS, 'mdmops');
  gatewayPort = await freePort();
  controller = startController(
    ['--kubeconfig', sa, ...storeArgs(), '--resync', '3s', '--leader-elect', '--lease-namespace', SYSTEM_NS, '--lease-name', 'mdmops-controller', '--gateway-listen', `127.0.0.1:${gatewayPort}`],
    await freePort(),
    // As the chart sets it without a master-key Secret: the file does not exist yet.
    { MDMOPS_MASTER_KEY_FILE: keyFile(), POD_NAME: 'mdmops-test-0' },
  );
}, 60 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await kube?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('mdmops controller', () => {
  it('creates the missing master key file (0600), answers /healthz, and is ready once its informers have synced', async () => {
    expect((await eventually('/healthz', async () => (await controller.get('/healthz').catch(() => undefined))?.status === 200 || undefined))).toBe(true);
    await eventually('/readyz 200', async () => (await controller.get('/readyz')).status === 200 || undefined);
    expect(existsSync(keyFile())).toBe(true);
    expect(statSync(keyFile()).mode & 0o777).toBe(0o600);
    expect(controller.log()).toContain('created a master key');
  });

  it('brings every example resource to its expected condition, with observedGeneration and the finalizer', async () => {
    for (const d of examples) {
      const want = expected(d);
      const o = await eventually(`${d.kind}/${d.metadata.name} ${JSON.stringify(want)}`, () => {
        const o = get(d.kind, d.metadata.name);
        const c = condition(o);
        return c && c.status === want.status && (!('reason' in want) || c.reason === want.reason) ? o : undefined;
      });
      expect(o.status.observedGeneration, `${d.kind}/${d.metadata.name}`).toBe(o.metadata.generation);
      expect(condition(o)!.observedGeneration).toBe(o.metadata.generation);
      expect(o.metadata.finalizers).toContain('mdmops.io/finalizer');
      // Its writes, the finalizer and the status, are under its own name (its User-Agent's), not "unknown".
      const shown: Doc = JSON.parse(kube.kubectl(['get', d.kind, d.metadata.name, '-n', NS, '-o', 'json', '--show-managed-fields']));
      const managers = (shown.metadata.managedFields as Doc[]).filter((f) => f.fieldsV1?.['f:status'] || f.fieldsV1?.['f:metadata']?.['f:finalizers']);
      expect(managers.map((f) => `${f.manager} ${f.subresource ?? ''}`.trim()).sort(), `${d.kind}/${d.metadata.name}`).toEqual(['mdmops', 'mdmops status']);
    }
    // And the tenant store holds them all, in the namespace's tenant.
    expect(stored().map((r) => `${r.kind}/${r.metadata.name}`).sort()).toEqual(examples.map((d) => `${d.kind}/${d.metadata.name}`).sort());
    // Only the leader reconciles: this one holds the Lease, in the chart's RBAC.
    expect(JSON.parse(kube.kubectl(['get', 'lease', 'mdmops-controller', '-n', SYSTEM_NS, '-o', 'json'])).spec.holderIdentity).toBe('mdmops-test-0');
  });

  it('shows the printer columns: Ready, the kind\'s own columns, and a readable Expires', () => {
    const lines = kube.kubectl(['get', 'certificateauthorities', '-n', NS]).trimEnd().split('\n');
    expect(lines[0]!.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'TYPE', 'EXPIRES', 'AGE']);
    const root = lines.find((l) => l.startsWith('contoso-root '))!.split(/\s+/);
    expect(root[1]).toBe('True');
    expect(root[2]).toBe('Local');
    expect(root[3]).toMatch(/^\d{4}-\d{2}-\d{2}T/);
    const connectors = kube.kubectl(['get', 'connectors', '-n', NS]).trimEnd().split('\n');
    expect(connectors.find((l) => l.startsWith('paris-dc '))!.split(/\s+/)[1]).toBe('False');
  });

  it('records Events for notifications', async () => {
    const events = await eventually('an Event on paris-dc', () => {
      const items: Doc[] = JSON.parse(kube.kubectl(['get', 'events', '-n', NS, '-o', 'json'])).items;
      const mine = items.filter((e) => e.involvedObject.kind === 'Connector' && e.involvedObject.name === 'paris-dc');
      return mine.length ? mine : undefined;
    });
    expect(events.map((e) => e.reason)).toContain('ConnectorNotConnected');
    expect(events.find((e) => e.reason === 'ConnectorNotConnected')!.type).toBe('Warning');
  });

  it('makes no API write when a resync finds everything as it was', async () => {
    // Settled: a few resyncs with the same count of writes.
    let before = await writes();
    await eventually('writes settle', async () => {
      const reconciles = await controller.metric('mdmops_controller_reconciles_total');
      await eventually('two resyncs', async () => (await controller.metric('mdmops_controller_reconciles_total')) >= reconciles + 2 * examples.length || undefined);
      const now = await writes();
      const settled = now === before;
      before = now;
      return settled || undefined;
    }, 120_000);
    const reconciles = await controller.metric('mdmops_controller_reconciles_total');
    await eventually('another two resyncs', async () => (await controller.metric('mdmops_controller_reconciles_total')) >= reconciles + 2 * examples.length || undefined);
    expect(await writes()).toBe(before);
    expect(before).toBeGreaterThan(0); // the counter counts: finalizers, status and Events were written earlier
  });

  it('reconciles an edited spec: observedGeneration advances and the tenant store follows', async () => {
    kube.kubectl(['patch', 'space', 'emea', '-n', NS, '--type', 'merge', '-p', '{"spec":{"priority":11}}']);
    const o = await eventually('emea at generation 2', () => {
      const o = get('space', 'emea');
      return o.status?.observedGeneration === 2 ? o : undefined;
    });
    expect(o.metadata.generation).toBe(2);
    expect(condition(o)!.status).toBe('True');
    expect(condition(o, 'Synced')!.message).toContain('generation 2');
    expect(stored().find((r) => r.kind === 'Space' && r.metadata.name === 'emea')!.spec.priority).toBe(11);
  });

  it('puts its finalizer back when it is taken off by hand', async () => {
    kube.kubectl(['patch', 'space', 'emea', '-n', NS, '--type', 'json', '-p', '[{"op":"remove","path":"/metadata/finalizers"}]']);
    const o = await eventually('the finalizer back', () => {
      const o = get('space', 'emea');
      return o.metadata.finalizers?.includes('mdmops.io/finalizer') ? o : undefined;
    });
    expect(condition(o)!.status).toBe('True');
  });

  it('puts back what was changed in the tenant store behind its back, at the next resync', async () => {
    const priority = () => stored().find((r) => r.kind === 'Space' && r.metadata.name === 'emea')!.spec.priority;
    const env = { MDMOPS_MASTER_KEY_FILE: keyFile() };
    const edit = mdmops(['tenant', 'set', `Space/${NS}/emea`, 'spec.priority=42', ...storeArgs()], { env });
    expect(edit.code, edit.stderr).toBe(0);
    // No change to the custom resource: only the periodic resync (3s here) can see the drift. The
    // audit log (newest first) shows the edit, then the controller correcting it.
    const actions = () => mdmops(['audit', ...storeArgs()], { env }).stdout.split('\n').filter((l) => l.includes(`Space/${NS}/emea`)).map((l) => l.split(/\s+/)[1]);
    await eventually('the drift corrected', () => (actions().slice(0, 2).join(' ') === 'correct-drift console-edit' && priority() === 11) || undefined, 30_000);
    expect(get('space', 'emea').metadata.generation).toBe(2);
  });

  it('reads secretRef from a Secret in the resource\'s namespace', async () => {
    kube.kubectl(['apply', '-n', NS, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'mdmops.io/v1alpha1', kind: 'Connector', metadata: { name: 'lyon-dc' }, spec: { hosting: 'OnPremises', httpProxy: { url: 'http://proxy.lyon.contoso.com:3128', credentialsSecretRef: { name: 'lyon-proxy', key: 'credentials' } } } }),
    });
    const missing = await eventually('lyon-dc SecretNotFound', () => {
      const c = condition(tryGet('connector', 'lyon-dc'));
      return c?.reason === 'SecretNotFound' ? c : undefined;
    });
    expect(missing.message).toContain('create Secret "lyon-proxy" with key "credentials" in namespace "contoso"');
    kube.kubectl(['create', 'secret', 'generic', 'lyon-proxy', '-n', NS, '--from-literal=credentials=u:p']);
    // With the Secret in place, the connector only waits for its agent.
    await eventually('lyon-dc AgentNotConnected', () => condition(tryGet('connector', 'lyon-dc'))?.reason === 'AgentNotConnected' || undefined);
    expect(controller.log()).not.toContain('u:p');
  });

  it('refuses invalid resources: by the CRD schema, or with a status condition naming the problem', async () => {
    let refused: unknown;
    try {
      kube.kubectl(['apply', '-n', NS, '-f', join(ROOT, 'examples/invalid/wrong-enum-value.yaml')]);
    } catch (e) {
      refused = e;
    }
    expect((refused as KubeToolError).stderr).toMatch(/spec\.logLevel: Unsupported value/);

    kube.kubectl(['apply', '-n', NS, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'mdmops.io/v1alpha1', kind: 'CertificateConfiguration', metadata: { name: 'from-file' }, spec: { uploaded: { certificate: { file: 'certs/root.pem' } } } }),
    });
    const invalid = await eventually('from-file Invalid', () => {
      const c = condition(tryGet('certificateconfiguration', 'from-file'));
      return c?.reason === 'Invalid' ? c : undefined;
    });
    expect(invalid.status).toBe('False');
    expect(invalid.message).toContain('spec.uploaded.certificate.file: a custom resource cannot name a file');

    kube.kubectl(['apply', '-n', NS, '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'mdmops.io/v1alpha1', kind: 'CertificateAuthority', metadata: { name: 'orphan-intermediate' }, spec: { type: 'Intermediate', issuerRef: { name: 'no-such-ca' }, subject: { commonName: 'Orphan' } } }),
    });
    const unresolved = await eventually('orphan-intermediate ReferenceNotFound', () => {
      const c = condition(tryGet('certificateauthority', 'orphan-intermediate'));
      return c?.reason === 'ReferenceNotFound' ? c : undefined;
    });
    expect(unresolved.message).toContain('CertificateAuthority "no-such-ca" not found in namespace "contoso"');
    const events: Doc[] = JSON.parse(kube.kubectl(['get', 'events', '-n', NS, '-o', 'json'])).items;
    expect(events.some((e) => e.involvedObject.name === 'from-file' && e.reason === 'Invalid' && e.type === 'Warning')).toBe(true);
    // Nothing of them reached the tenant.
    expect(stored().map((r) => r.metadata.name)).not.toContain('from-file');
  });

  it('refuses a resource that breaks a tenant rule with the others of its namespace (the newer one)', async () => {
    kube.kubectl(['create', 'namespace', 'rules']);
    const doc = (kind: string, name: string, spec: Doc) => ({ apiVersion: 'mdmops.io/v1alpha1', kind, metadata: { name, namespace: 'rules' }, spec });
    kube.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
        doc('EntraIdSource', 'contoso-entra', { displayName: 'Contoso', tenantId: 'contoso.onmicrosoft.com', clientId: '2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b', clientSecretRef: { name: 'contoso-entra', key: 'client-secret' } }),
        doc('IdentityProvider', 'entra', { type: 'EntraId' }),
        doc('IdentityProvider', 'second', { type: 'Adfs', metadataUrl: 'https://adfs.contoso.com/FederationMetadata/2007-06/FederationMetadata.xml' }),
      ] }),
    });
    const second = await eventually('second Invalid', () => {
      const out = kube.kubectl(['get', 'identityprovider', 'second', '-n', 'rules', '-o', 'json']);
      const c = condition(JSON.parse(out));
      return c?.reason === 'Invalid' ? c : undefined;
    });
    expect(second.message).toContain('metadata.name: a tenant has at most one IdentityProvider; IdentityProvider/entra is already declared');
    // The first one is not refused (it waits for its Entra ID source, which cannot be reached here).
    const first = await eventually('entra reconciled, not refused', () => {
      const c = condition(JSON.parse(kube.kubectl(['get', 'identityprovider', 'entra', '-n', 'rules', '-o', 'json'])));
      if (c?.reason === 'Invalid') throw new Error(c.message);
      return c;
    }, 20_000);
    expect(first.message).not.toContain('at most one IdentityProvider');
  });

  it('follows the finalizer on delete: a referenced one waits, Delete removes the record, Orphan keeps it unmanaged', async () => {
    // contoso-issuing (deletionPolicy Delete) still issues device-identity: its deletion waits, and says why.
    kube.kubectl(['delete', 'certificateauthority', 'contoso-issuing', '-n', NS, '--wait=false']);
    const blocked = await eventually('contoso-issuing DeletionBlocked', () => {
      const c = condition(tryGet('certificateauthority', 'contoso-issuing'));
      return c?.reason === 'DeletionBlocked' ? c : undefined;
    });
    expect(blocked.message).toContain('still referenced by CertificateConfiguration/contoso/device-identity');
    expect(get('certificateauthority', 'contoso-issuing').metadata.deletionTimestamp).toBeTruthy();
    expect(stored().some((r) => r.metadata.name === 'contoso-issuing')).toBe(true);

    // Once the configuration it issues goes (deletionPolicy Delete too), both leave the cluster and the tenant.
    kube.kubectl(['delete', 'certificateconfiguration', 'device-identity', '-n', NS, '--wait=false']);
    await eventually('device-identity and contoso-issuing gone', () => (!tryGet('certificateconfiguration', 'device-identity') && !tryGet('certificateauthority', 'contoso-issuing')) || undefined);
    const names = stored().map((r) => r.metadata.name);
    expect(names).not.toContain('device-identity');
    expect(names).not.toContain('contoso-issuing');

    // CAs default to deletionPolicy Orphan: contoso-root leaves the cluster and stays in the tenant, unmanaged.
    kube.kubectl(['delete', 'certificateauthority', 'contoso-root', '-n', NS, '--wait=false']);
    await eventually('contoso-root gone', () => !tryGet('certificateauthority', 'contoso-root') || undefined);
    const root = stored().find((r) => r.metadata.name === 'contoso-root');
    expect(root?.status.conditions.find((c: Doc) => c.type === 'Synced').reason).toBe('Orphaned');
  });

  it('is the gateway connector agents dial in to: a Connector is Ready while its agent is there, and says when it goes', async () => {
    await eventually('the connector gateway', () => controller.log().includes('connector gateway listening') || undefined);
    const token = mdmops(['connector', 'token', 'Connector/paris-dc', '-n', NS, ...storeArgs()], { env: { MDMOPS_MASTER_KEY_FILE: keyFile() } });
    expect(token.code, token.stderr).toBe(0);
    const tokenFile = join(dir, 'paris-dc.token');
    writeFileSync(tokenFile, token.stdout);
    const agent = startAgent(undefined, ['--server', `https://127.0.0.1:${gatewayPort}`, '--token-file', tokenFile, '--state-dir', join(dir, 'agent')]);
    await eventually('Connector/paris-dc Ready', () => condition(tryGet('connector', 'paris-dc'))?.status === 'True' || undefined);
    expect(get('connector', 'paris-dc').status).toMatchObject({ connected: true, hosting: 'OnPremises' });
    await agent.stop();
    await eventually('Connector/paris-dc unreachable', () => condition(tryGet('connector', 'paris-dc'))?.reason === 'AgentUnreachable' || undefined);
    expect(kube.kubectl(['get', 'events', '-n', NS, '--field-selector', 'involvedObject.name=paris-dc', '-o', 'json'])).toContain('ConnectorUnreachable');
  });

  it('serves /metrics for Prometheus: reconciles, errors, durations, queue depth', async () => {
    const { status, body } = await controller.get('/metrics');
    expect(status).toBe(200);
    for (const name of ['mdmops_controller_reconciles_total', 'mdmops_controller_reconcile_duration_seconds_bucket', 'mdmops_controller_queue_depth', 'mdmops_controller_leader', 'mdmops_controller_api_writes_total']) {
      expect(body).toContain(name);
    }
    expect(body).toContain('# TYPE mdmops_controller_reconcile_errors_total counter');
    expect(await controller.metric('mdmops_controller_reconciles_total', { kind: 'Space', result: 'success' })).toBeGreaterThan(0);
    expect(await controller.metric('mdmops_controller_leader')).toBe(1);
  });

  it('stops on SIGTERM and hands the Lease back', async () => {
    await eventually('/readyz 200', async () => (await controller.get('/readyz')).status === 200 || undefined);
    const code = await controller.stop();
    expect(code, controller.log().slice(-3000)).toBe(0);
    expect(controller.log()).toContain('released the lease');
    const lease = JSON.parse(kube.kubectl(['get', 'lease', 'mdmops-controller', '-n', SYSTEM_NS, '-o', 'json']));
    expect(lease.spec.holderIdentity ?? '').toBe('');
  });
});
