// Tenants never meet, in the controller: two namespaces hold resources of every kind under the same
// names. Everything is reconciled, users are synced into both from the Entra ID emulator and issued
// identity certificates; then tenant A's resources are edited and deleted. Tenant B must come out
// exactly as it went in: its records, inventory, certificates, custom resource status and Events.
// (Before the tenant was in the controller's inventory source, deleting A's Space deleted B's.)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KINDS as ALL_KINDS } from '../src/api/index.js';
import { mdmops, ROOT } from './support/cli.js';
import { eventually, startController, type ControllerProcess } from './support/controller.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { freePort } from './servers/ports.js';
import { startKube, type KubeCluster } from './servers/kube.js';

type Doc = Record<string, any>;

const CHART = join(ROOT, 'charts/mdmops');
const SYSTEM_NS = 'mdmops-system';
const A = 'tenant-a';
const B = 'tenant-b';
const USERS = 12;

let kube: KubeCluster;
let entra: EntraEmulator;
let dir: string;
let controller: ControllerProcess;
const storeArgs = () => ['--store', `sqlite:${join(dir, 'tenant.db')}`, '--secrets-dir', join(dir, 'secrets')];
const env = () => ({ MDMOPS_MASTER_KEY_FILE: join(dir, 'master.key'), NODE_EXTRA_CA_CERTS: entra.caFile });
const cli = (args: string[]) => {
  const r = mdmops([...args, ...storeArgs()], { env: env() });
  if (r.code !== 0) throw new Error(`mdmops ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** One resource of every kind, the same names in each tenant. */
function resources(): Doc[] {
  const doc = (kind: string, name: string, spec: Doc) => ({ apiVersion: 'mdmops.io/v1alpha1', kind, metadata: { name }, spec });
  return [
    doc('Connector', 'dc', { hosting: 'OnPremises' }),
    doc('CertificateAuthority', 'root', { type: 'Local', subject: { commonName: 'Root' }, keyAlgorithm: 'ECDSA-P256', validity: '3650d', deletionPolicy: 'Delete' }),
    doc('Space', 'eng', { displayName: 'Engineering', priority: 10, members: { groups: ['eng'] }, admins: { groups: ['eng-admins'] } }),
    doc('CertificateConfiguration', 'identity', {
      identity: { certificateAuthorityRef: { name: 'root' }, subject: 'CN=${userUPN}', keyAlgorithm: 'ECDSA-P256', validity: '365d' },
      distribution: { devices: 'AllDevices' },
      deletionPolicy: 'Delete',
    }),
    doc('EntraIdSource', 'entra', {
      displayName: 'Entra',
      tenantId: entra.tenantId,
      clientId: entra.clientId,
      authorityHost: entra.url,
      graphEndpoint: entra.url,
      clientSecretRef: { name: 'entra', key: 'client-secret' },
      syncInterval: '24h',
    }),
    doc('LdapSource', 'ldap', { connectorRef: { name: 'dc' }, url: 'ldaps://ldap.corp.example.com', bindDn: 'cn=sync,dc=example,dc=com', bindPasswordSecretRef: { name: 'ldap', key: 'password' }, baseDn: 'dc=example,dc=com' }),
    doc('IdentityProvider', 'idp', { type: 'EntraId', entraIdSourceRef: { name: 'entra' }, serviceUrl: 'https://mdm.example.com' }),
    doc('CoreSyncTarget', 'core', { fqdn: 'core.example.com', credentials: { username: 'sync', passwordSecretRef: { name: 'core', key: 'password' } }, trust: { certificateSha256: 'ab'.repeat(32) } }),
    doc('SqlProvisioning', 'hr', {
      managementAgentExport: { data: readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8') },
      connection: { driver: 'PostgreSQL', urlSecretRef: { name: 'hr', key: 'url' } },
      table: 'users',
      anchor: { attribute: 'EmployeeId', column: 'employee_id' },
      attributeMapping: [{ attribute: 'Mail', column: 'email', from: 'userEmailAddress' }],
      sourceRef: { kind: 'EntraIdSource', name: 'entra' },
    }),
  ];
}
const KINDS = () => resources().map((d) => d.kind);

const get = (ns: string, kind: string, name: string): Doc | undefined => {
  const out = kube.kubectl(['get', kind, name, '-n', ns, '-o', 'json', '--ignore-not-found']);
  return out.trim() ? JSON.parse(out) : undefined;
};
/** Reconciled at its generation: status written for the spec it has now. */
const settled = (o: Doc | undefined) => !!o && o.status?.observedGeneration === o.metadata.generation && !!o.status?.conditions?.length;
const stored = (ns: string): Doc[] => JSON.parse(cli(['status', '-o', 'json', '-n', ns])).items;
const certificates = (ns: string): Doc[] => (JSON.parse(cli(['certificates', '-n', ns, '-o', 'json'])) as Doc[]).filter((c) => c.configuration === 'identity');
const events = (ns: string): Doc[] => JSON.parse(kube.kubectl(['get', 'events', '-n', ns, '-o', 'json'])).items;

/** What tenant B shows, to compare before and after A's changes. */
function snapshotOf(ns: string) {
  const records = stored(ns).map((r) => ({ kind: r.kind, name: r.metadata.name, spec: r.spec, managed: r.managed, source: r.source, generation: r.metadata.generation }));
  const status = resources().map((d) => {
    const o = get(ns, d.kind, d.metadata.name)!;
    return { kind: d.kind, name: d.metadata.name, generation: o.metadata.generation, conditions: o.status.conditions.map((c: Doc) => ({ type: c.type, status: c.status, reason: c.reason })) };
  });
  const certs = certificates(ns).map((c) => `${c.userId} ${c.fingerprintSha256 ?? c.fingerprint}`).sort();
  return { records, status, certs };
}

beforeAll(async () => {
  [kube, entra] = await Promise.all([startKube(), startEntra({ users: USERS })]);
  dir = mkdtempSync(join(tmpdir(), 'mdmops-tenants-'));
  kube.helm(['install', 'mdmops', CHART, '-n', SYSTEM_NS, '--create-namespace']);
  for (const def of ALL_KINDS) kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${def.plural}.mdmops.io`]);
  for (const ns of [A, B]) {
    kube.kubectl(['create', 'namespace', ns]);
    kube.kubectl(['create', 'secret', 'generic', 'entra', '-n', ns, `--from-literal=client-secret=${entra.secret}`]);
    kube.kubectl(['apply', '-n', ns, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: resources() }) });
    // `mdmops sync` beside the controller reads the secret as the standalone CLI does.
    mkdirSync(join(dir, 'secrets', ns, 'entra'), { recursive: true });
    writeFileSync(join(dir, 'secrets', ns, 'entra', 'client-secret'), entra.secret);
  }
  const sa = await kube.mintServiceAccountKubeconfig(SYSTEM_NS, 'mdmops');
  controller = startController(['--kubeconfig', sa, '--store', `sqlite:${join(dir, 'tenant.db')}`, '--resync', '2s'], await freePort(), env());
}, 60 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await Promise.all([kube?.stop(), entra?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('two tenants with same-named resources of every kind, in the controller', () => {
  let before: ReturnType<typeof snapshotOf>;

  it('reconciles both, each into its own tenant and its own inventory source', async () => {
    expect(KINDS().sort()).toEqual(ALL_KINDS.map((k) => k.kind).sort());
    for (const ns of [A, B]) for (const d of resources()) await eventually(`${ns}/${d.kind}/${d.metadata.name} reconciled`, () => settled(get(ns, d.kind, d.metadata.name)) || undefined);
    for (const ns of [A, B]) {
      const records = stored(ns);
      expect(records.map((r) => r.kind).sort()).toEqual(KINDS().sort());
      for (const r of records) expect(r.source, `${ns}/${r.kind}/${r.metadata.name}`).toBe(`kubernetes:${ns}/${r.kind}/${r.metadata.name}`);
    }
  });

  it('issues identity certificates to the users synced into each tenant', async () => {
    for (const ns of [A, B]) expect(cli(['sync', `EntraIdSource/${ns}/entra`])).toContain(`${USERS} users`);
    for (const ns of [A, B]) await eventually(`${ns}: a certificate for each user`, () => certificates(ns).length === USERS || undefined);
    // The two tenants' CAs are not one CA: their certificates differ.
    const fingerprints = (ns: string) => new Set(certificates(ns).map((c) => c.fingerprintSha256 ?? c.fingerprint));
    const inA = fingerprints(A);
    expect([...fingerprints(B)].filter((f) => inA.has(f))).toEqual([]);
    // Settled again after the issuing, and a resync or two later still the same.
    await eventually(`${B}: status settled`, () => resources().every((d) => settled(get(B, d.kind, d.metadata.name))) || undefined);
    before = snapshotOf(B);
    expect(before.certs).toHaveLength(USERS);
  });

  it('leaves tenant B untouched while A edits its resources', { timeout: 120_000 }, async () => {
    const eventsBefore = events(B).length;
    kube.kubectl(['patch', 'space', 'eng', '-n', A, '--type', 'merge', '-p', '{"spec":{"priority":11}}']);
    kube.kubectl(['patch', 'certificateconfiguration', 'identity', '-n', A, '--type', 'merge', '-p', '{"spec":{"identity":{"subject":"CN=${userUPN},O=A"}}}']);
    await eventually(`${A}: edits applied`, () => {
      const space = stored(A).find((r) => r.kind === 'Space');
      const subjects = certificates(A).map((c) => c.subject);
      return (space?.spec.priority === 11 && subjects.length === USERS && subjects.every((s) => s.includes('O=A'))) || undefined;
    });
    expect(snapshotOf(B)).toEqual(before);
    expect(events(B).length).toBe(eventsBefore);
  });

  it('leaves tenant B untouched when A deletes every resource, and A\'s deletions name only A\'s resources', { timeout: 180_000 }, async () => {
    const eventsBefore = events(B).length;
    for (const d of resources()) kube.kubectl(['delete', d.kind, d.metadata.name, '-n', A, '--wait=false']);
    await eventually(`${A}: every custom resource gone`, () => resources().every((d) => !get(A, d.kind, d.metadata.name)) || undefined, 120_000);
    // A: deletionPolicy Delete removed those records; the others (Orphan) stay, unmanaged.
    for (const r of stored(A)) expect(r.managed, `${r.kind}/${r.metadata.name}`).toBe(false);
    expect(stored(A).map((r) => r.kind)).not.toContain('Space');
    expect(certificates(A)).toEqual([]);
    // B: as before, through a few more resyncs.
    const resyncs = await controller.metric('mdmops_controller_reconciles_total');
    await eventually('two more resyncs', async () => (await controller.metric('mdmops_controller_reconciles_total')) >= resyncs + 2 * KINDS().length || undefined);
    expect(snapshotOf(B)).toEqual(before);
    expect(events(B).length).toBe(eventsBefore);
    // Nothing A did was blocked by, or told of, B's resources.
    const aMessages = events(A).map((e) => e.message).join('\n');
    expect(aMessages).not.toContain(B);
    expect(controller.log()).not.toMatch(new RegExp(`DeletionBlocked[^\\n]*${B}`));
  });

  it('gives B back nothing of A when A declares the same names again', async () => {
    kube.kubectl(['apply', '-n', A, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: resources().filter((d) => d.kind === 'Space') }) });
    await eventually(`${A}/Space/eng reconciled`, () => settled(get(A, 'Space', 'eng')) || undefined);
    expect(stored(A).find((r) => r.kind === 'Space')?.source).toBe(`kubernetes:${A}/Space/eng`);
    expect(snapshotOf(B)).toEqual(before);
  });
});
