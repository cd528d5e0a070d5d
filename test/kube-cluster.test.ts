// The Helm chart and the CRDs against a real kube-apiserver (built from Go modules, see
// test/servers/kube-build.sh): helm lint and template, the chart installed with its CRDs, the example
// tenant applied as custom resources, printer columns, invalid resources refused by the CRD schema,
// and the chart's ServiceAccount allowed what its RBAC lists and nothing more.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { mdmops, ROOT } from './support/cli.js';
import { KubeToolError, startKube, type KubeCluster } from './servers/kube.js';

const CHART = join(ROOT, 'charts/mdmops');
const RELEASE = 'mdmops';
const SYSTEM_NS = 'mdmops-system';
const TENANT_NS = 'contoso';

type Doc = Record<string, any>;

const docsOf = (text: string): Doc[] => parseAllDocuments(text).map((d) => d.toJS() as Doc).filter((d) => d && typeof d === 'object');
const readDocs = (file: string): Doc[] => docsOf(readFileSync(file, 'utf8'));

const crds: Doc[] = readdirSync(join(CHART, 'crds')).sort().flatMap((f) => readDocs(join(CHART, 'crds', f)));
const plurals = crds.map((c) => c.spec.names.plural as string).sort();
const tenantDir = join(ROOT, 'examples/tenant');
const tenant: Doc[] = readdirSync(tenantDir).filter((f) => f.endsWith('.yaml')).flatMap((f) => readDocs(join(tenantDir, f)));

/**
 * The rules the chart must grant, exactly: in each listed namespace, or cluster-wide, where Secrets
 * are only read by name (no list or watch of every Secret in the cluster).
 */
const rulesWith = (secretVerbs: string[]) => [
  { apiGroups: ['mdmops.io'], resources: plurals, verbs: ['get', 'list', 'watch', 'update', 'patch'] },
  { apiGroups: ['mdmops.io'], resources: plurals.map((p) => `${p}/status`), verbs: ['update', 'patch'] },
  { apiGroups: ['mdmops.io'], resources: plurals.map((p) => `${p}/finalizers`), verbs: ['update'] },
  { apiGroups: [''], resources: ['secrets'], verbs: secretVerbs },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];
const expectedRules = rulesWith(['get', 'list', 'watch']);
const clusterRules = rulesWith(['get']);
const expectedLeaseRules = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['mdmops-controller'], verbs: ['get', 'update'] },
];

/** A row of kubectl's table cut at the header's column starts (an empty cell leaves only spaces). */
function cells(header: string, row: string): string[] {
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index);
  return starts.map((start, i) => row.slice(start, starts[i + 1]).trim());
}

let kube: KubeCluster;

beforeAll(async () => {
  kube = await startKube();
}, 60 * 60_000); // a first build of the binaries, when ensure-deps has not done it, takes long

afterAll(async () => {
  await kube?.stop();
});

describe('helm lint and template', () => {
  it('lints clean, and the values schema and cross-field rules refuse bad values', () => {
    expect(kube.helm(['lint', '--strict', CHART])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(() => kube.helm(['lint', '--strict', CHART, '--set', 'image.pullPolicy=Sometimes'])).toThrow(/pullPolicy/);
    expect(() => kube.helm(['lint', '--strict', CHART, '--set', 'watchNamespaces[0]=Not_A_Namespace'])).toThrow(/watchNamespaces/);
    expect(() => kube.helm(['template', RELEASE, CHART, '--set', 'replicaCount=2'])).toThrow(/replicaCount > 1 needs a shared PostgreSQL store/);
  });

  it('renders a hardened Deployment, its ServiceAccount, Service, PodDisruptionBudget and least-privilege RBAC', () => {
    const docs = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS]));
    expect(docs.map((d) => d.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Role', 'Role', 'RoleBinding', 'RoleBinding', 'Service', 'Service', 'ServiceAccount']);
    for (const d of docs) if (!d.kind.startsWith('Cluster')) expect(d.metadata.namespace, `${d.kind} namespace`).toBe(SYSTEM_NS);

    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(RELEASE);
    // The image's user, so that runAsNonRoot holds whether or not the image is the one built here.
    const imageUser = Number(/^USER\s+(\d+)/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))?.[1]);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: imageUser, seccompProfile: { type: 'RuntimeDefault' } });
    const [container] = pod.containers;
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    expect(container.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'gateway', containerPort: 8443, protocol: 'TCP' },
    ]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const gatewayNames = [`${RELEASE}-gateway`, `${RELEASE}-gateway.${SYSTEM_NS}.svc`, `${RELEASE}-gateway.${SYSTEM_NS}.svc.cluster.local`];
    expect(container.args).toEqual(['--listen=:8080', '--leader-elect', `--lease-namespace=${SYSTEM_NS}`, '--lease-name=mdmops-controller', '--gateway-listen=:8443', ...gatewayNames.map((n) => `--gateway-name=${n}`), `--core-name=${RELEASE}.${SYSTEM_NS}.svc`]);
    // A read-only root: the writable places are volumes.
    expect(container.volumeMounts.map((m: Doc) => m.mountPath).sort()).toEqual(['/tmp', '/var/lib/mdmops']);
    expect(deployment.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8080', 'prometheus.io/path': '/metrics' });

    const [service, gateway] = docs.filter((d) => d.kind === 'Service') as [Doc, Doc];
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    // Agents reach the leader alone: it labels its pod mdmops.io/gateway=active.
    expect(gateway.metadata.name).toBe(`${RELEASE}-gateway`);
    expect(gateway.spec.ports).toEqual([{ name: 'gateway', port: 8443, targetPort: 'gateway', protocol: 'TCP' }]);
    expect(gateway.spec.selector).toEqual({ ...deployment.spec.selector.matchLabels, 'mdmops.io/gateway': 'active' });
    const labeller = docs.find((d) => d.kind === 'Role' && d.metadata.name === `${RELEASE}-gateway`)!;
    expect(labeller.metadata.namespace).toBe(SYSTEM_NS);
    expect(labeller.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'patch'] }]);
    expect(docs.find((d) => d.kind === 'PodDisruptionBudget')!.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);

    expect(docs.find((d) => d.kind === 'ClusterRole')!.rules).toEqual(clusterRules);
    const lease = docs.find((d) => d.kind === 'Role')!;
    expect(lease.metadata.namespace).toBe(SYSTEM_NS);
    expect(lease.rules).toEqual(expectedLeaseRules);
    for (const binding of docs.filter((d) => d.kind.endsWith('Binding'))) {
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: RELEASE, namespace: SYSTEM_NS }]);
    }
    expect(JSON.stringify(docs.filter((d) => d.kind.endsWith('Role')))).not.toContain('"*"');
  });

  it('renders the core-sync endpoint when asked: a Service port on every replica, its TLS Secret mounted, the tenant it lands in', () => {
    expect(docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS])).map((d) => d.metadata.name)).not.toContain(`${RELEASE}-core-sync`);
    expect(() => kube.helm(['template', RELEASE, CHART, '--set', 'coreSync.enabled=true'])).toThrow(/coreSync\.existingSecret: a kubernetes\.io\/tls Secret that peers pin/);
    const docs = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS, '--set', 'coreSync.enabled=true', '--set', 'coreSync.existingSecret=core-tls', '--set', 'coreSync.requireClientCertificate=true', '--set', 'coreSync.tenant=contoso']));
    const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === `${RELEASE}-core-sync`)!;
    expect(service.spec.ports).toEqual([{ name: 'core-sync', port: 9443, targetPort: 'core-sync', protocol: 'TCP' }]);
    expect(service.spec.selector['mdmops.io/gateway']).toBeUndefined();
    const pod = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;
    expect(pod.containers[0].args).toEqual(expect.arrayContaining(['--core-sync-listen=:9443', '--core-sync-cert=/etc/mdmops/core-sync/tls.crt', '--core-sync-key=/etc/mdmops/core-sync/tls.key', '--core-sync-client-ca=/etc/mdmops/core-sync/ca.crt', '--tenant=contoso']));
    expect(pod.containers[0].ports).toContainEqual({ name: 'core-sync', containerPort: 9443, protocol: 'TCP' });
    // The core's name, which peers record as the owner of what it sent: the same for every replica and rollout.
    expect(pod.containers[0].args.filter((a: string) => a.startsWith('--core-name='))).toEqual([`--core-name=${service.metadata.name.replace(/-core-sync$/, '')}.${SYSTEM_NS}.svc`]);
    expect(pod.volumes).toContainEqual({ name: 'core-sync-tls', secret: { secretName: 'core-tls' } });
  });

  it('renders the web console when asked: its port on the main Service and every replica', () => {
    const plain = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS]));
    expect(plain.find((d) => d.kind === 'Service' && d.metadata.name === RELEASE)!.spec.ports.map((p: { name: string }) => p.name)).toEqual(['http']);
    const docs = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS, '--set', 'console.enabled=true']));
    expect(docs.find((d) => d.kind === 'Service' && d.metadata.name === RELEASE)!.spec.ports).toContainEqual({ name: 'console', port: 8081, targetPort: 'console', protocol: 'TCP' });
    const pod = docs.find((d) => d.kind === 'Deployment')!.spec.template.spec;
    expect(pod.containers[0].args).toContain('--console-listen=:8081');
    expect(pod.containers[0].ports).toContainEqual({ name: 'console', containerPort: 8081, protocol: 'TCP' });
    expect(pod.containers[0].args.filter((a: string) => a.startsWith('--console-url'))).toEqual([]);
    // Where users reach it, for the links of the notifications sent out.
    const linked = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS, '--set', 'console.enabled=true', '--set', 'console.url=https://mdmops.example.com/']));
    expect(linked.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].args).toContain('--console-url=https://mdmops.example.com/');
    expect(() => kube.helm(['template', RELEASE, CHART, '--set', 'console.url=mdmops.example.com'])).toThrow(/console\/url/);
  });

  it('keeps the store and its CA keys on a PersistentVolumeClaim by default, with strategy Recreate, and refuses an emptyDir for SQLite', () => {
    const docs = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS]));
    const claim = docs.find((d) => d.kind === 'PersistentVolumeClaim')!;
    expect(claim.spec).toMatchObject({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } });
    expect(claim.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    const deployment = docs.find((d) => d.kind === 'Deployment')!;
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const data = deployment.spec.template.spec.volumes.find((v: Doc) => v.name === 'data');
    expect(data).toEqual({ name: 'data', persistentVolumeClaim: { claimName: claim.metadata.name } });
    const env = Object.fromEntries(deployment.spec.template.spec.containers[0].env.filter((e: Doc) => 'value' in e).map((e: Doc) => [e.name, e.value]));
    expect(env).toMatchObject({ MDMOPS_STORE: 'sqlite:/var/lib/mdmops/tenant.db', MDMOPS_MASTER_KEY_FILE: '/var/lib/mdmops/master.key' });

    expect(() => kube.helm(['template', RELEASE, CHART, '--set', 'persistence.enabled=false'])).toThrow(/persistence\.enabled=false would keep the SQLite store, and every CA key in it, on an emptyDir/);
    // A PostgreSQL store may do without the volume; its replicas then roll as usual.
    const shared = docsOf(kube.helm(['template', RELEASE, CHART, '--set', 'persistence.enabled=false', '--set', 'store.existingSecret.name=db', '--set', 'masterKey.existingSecret.name=key', '--set', 'replicaCount=2']));
    expect(shared.map((d) => d.kind)).not.toContain('PersistentVolumeClaim');
    const sharedDeployment = shared.find((d) => d.kind === 'Deployment')!;
    expect(sharedDeployment.spec.strategy).toBeUndefined();
    expect(sharedDeployment.spec.template.spec.volumes.find((v: Doc) => v.name === 'data')).toEqual({ name: 'data', emptyDir: {} });
    expect(() => kube.helm(['template', RELEASE, CHART, '--set', 'store.existingSecret.name=db', '--set', 'replicaCount=2'])).toThrow(/replicaCount > 1 with a ReadWriteOnce data volume/);
    // A claim made beforehand (a restored backup) is used as it is.
    const restored = docsOf(kube.helm(['template', RELEASE, CHART, '--set', 'persistence.existingClaim=restored']));
    expect(restored.map((d) => d.kind)).not.toContain('PersistentVolumeClaim');
    expect(restored.find((d) => d.kind === 'Deployment')!.spec.template.spec.volumes.find((v: Doc) => v.name === 'data').persistentVolumeClaim).toEqual({ claimName: 'restored' });
  });

  it('passes the outbound policy to the controller: the cluster\'s service range refused, or internal targets allowed', () => {
    const args = (...set: string[]) => docsOf(kube.helm(['template', RELEASE, CHART, ...set.flatMap((v) => ['--set', v])])).find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].args as string[];
    expect(args('outbound.internalRanges={10.96.0.0/12,fd00::/108}')).toEqual(expect.arrayContaining(['--internal-range=10.96.0.0/12', '--internal-range=fd00::/108']));
    expect(args('outbound.allowInternalTargets=true')).toContain('--allow-internal-targets');
    expect(args().some((a) => a.includes('internal'))).toBe(false);
    expect(() => kube.helm(['lint', '--strict', CHART, '--set', 'outbound.internalRanges={not-a-range}'])).toThrow(/internalRanges/);
  });

  it('grants Roles in the watched namespaces only when watchNamespaces is set, and passes them to the controller', () => {
    const docs = docsOf(kube.helm(['template', RELEASE, CHART, '-n', SYSTEM_NS, '--set', 'watchNamespaces={tenant-a,tenant-b}', '--set', 'leaderElection.enabled=false']));
    expect(docs.filter((d) => d.kind.startsWith('Cluster'))).toEqual([]);
    const roles = docs.filter((d) => d.kind === 'Role' && d.metadata.name !== `${RELEASE}-gateway`);
    expect(roles.map((r) => r.metadata.namespace)).toEqual(['tenant-a', 'tenant-b']);
    for (const role of roles) expect(role.rules).toEqual(expectedRules);
    expect(docs.find((d) => d.kind === 'Deployment')!.spec.template.spec.containers[0].args.slice(0, 3)).toEqual(['--listen=:8080', '--namespace=tenant-a', '--namespace=tenant-b']);
  });
});

describe('the chart installed in a real cluster', () => {
  beforeAll(() => {
    kube.helm(['install', RELEASE, CHART, '-n', SYSTEM_NS, '--create-namespace']);
    for (const crd of crds) kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd.metadata.name}`]);
    kube.kubectl(['create', 'namespace', TENANT_NS]);
  });

  it('installs every CRD from the chart', () => {
    const names = kube.kubectl(['get', 'crd', '-o', 'jsonpath={.items[*].metadata.name}']).split(' ').sort();
    expect(names).toEqual(crds.map((c) => c.metadata.name).sort());
    expect(kube.helm(['list', '-n', SYSTEM_NS, '-o', 'json'])).toContain('"status":"deployed"');
  });

  it('makes the store\'s claim, which outlives an upgrade and an uninstall, and says in its notes where the keys are and how to back them up', () => {
    const claim = () => kube.kubectl(['get', 'pvc', RELEASE, '-n', SYSTEM_NS, '-o', 'jsonpath={.metadata.uid}']);
    const uid = claim();
    expect(uid).toMatch(/^[0-9a-f-]{36}$/);
    const notes = kube.helm(['upgrade', RELEASE, CHART, '-n', SYSTEM_NS, '--set', 'logLevel=debug']);
    expect(claim()).toBe(uid);
    expect(notes).toContain(`/var/lib/mdmops/tenant.db on PersistentVolumeClaim\n  ${SYSTEM_NS}/${RELEASE} (kept by helm uninstall)`);
    expect(notes).toContain('The master key is /var/lib/mdmops/master.key on the same volume');
    // The backup line the notes give runs, against a store mdmops made (here the image's /var/lib/mdmops is a temp folder).
    const script = /deploy\/\S+ -- node -e "(.*)"$/m.exec(notes)![1]!.replace(/\\"/g, '"');
    const dataDir = mkdtempSync(join(tmpdir(), 'mdmops-chart-backup-'));
    try {
      const env = { MDMOPS_MASTER_KEY: randomBytes(32).toString('hex') };
      const made = mdmops(['apply', '-f', join(ROOT, 'examples/tenant/spaces.yaml'), '--auto-approve', '--store', `sqlite:${join(dataDir, 'tenant.db')}`], { env });
      expect(made.code, made.stderr).toBe(0);
      for (let i = 0; i < 2; i++) execFileSync(process.execPath, ['-e', script.replaceAll('/var/lib/mdmops', dataDir)], { cwd: ROOT });
      const listed = mdmops(['status', '--store', `sqlite:${join(dataDir, 'backup.db')}`], { env });
      expect(listed.stdout).toContain('Space/emea');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('accepts the example tenant as custom resources and shows the printer columns', () => {
    const out = kube.kubectl(['apply', '-n', TENANT_NS, '-f', tenantDir]);
    for (const doc of tenant) {
      const def = crds.find((c) => c.spec.names.kind === doc.kind)!;
      expect(out).toContain(`${def.spec.names.singular}.mdmops.io/${doc.metadata.name} created`);
    }
    // Stored as written (the apiserver pruned nothing the schema knows), with the schema's defaults filled in.
    const stored: Doc[] = JSON.parse(kube.kubectl(['get', 'mdmops', '-n', TENANT_NS, '-o', 'json'])).items;
    expect(stored).toHaveLength(tenant.length);
    for (const doc of tenant) {
      const item = stored.find((i) => i.kind === doc.kind && i.metadata.name === doc.metadata.name);
      expect(item?.spec, `${doc.kind}/${doc.metadata.name}`).toMatchObject(doc.spec);
    }
    expect(stored.find((i) => i.kind === 'Connector')!.spec).toMatchObject({ enabled: true, managementPolicy: 'Enforce', suspend: false });

    for (const crd of crds) {
      const docs = tenant.filter((d) => d.kind === crd.spec.names.kind);
      if (!docs.length) continue;
      const lines = kube.kubectl(['get', crd.spec.names.plural, '-n', TENANT_NS]).trimEnd().split('\n');
      const columns = crd.spec.versions[0].additionalPrinterColumns.map((c: Doc) => (c.name as string).toUpperCase());
      expect(lines[0]!.split(/\s{2,}/), crd.spec.names.kind).toEqual(['NAME', ...columns]);
      expect(lines.slice(1).map((l) => l.split(/\s+/)[0]).sort()).toEqual(docs.map((d) => d.metadata.name).sort());
      // A column read from the spec shows the spec's value.
      for (const [i, col] of crd.spec.versions[0].additionalPrinterColumns.entries()) {
        const path = /^\.spec\.([\w.]+)$/.exec(col.jsonPath)?.[1];
        if (!path) continue;
        for (const doc of docs) {
          const value = path.split('.').reduce<any>((v, k) => v?.[k], doc.spec);
          const row = cells(lines[0]!, lines.find((l) => l.startsWith(`${doc.metadata.name} `))!);
          expect(row[i + 1], `${doc.kind}/${doc.metadata.name} ${col.name}`).toBe(value === undefined ? '' : String(value));
        }
      }
    }
  });

  it.each([
    ['wrong-enum-value.yaml', 'connector/paris-dc', /spec\.logLevel: Unsupported value: "Verbose"/],
    ['wrong-type.yaml', 'coresynctarget/core-lyon', /spec\.port: Invalid value: "string": spec\.port in body must be of type (integer|number)/],
    ['missing-required-field.yaml', 'space/emea', /spec\.displayName: Required value/],
    ['unknown-field.yaml', 'connector/paris-dc', /unknown field "spec\.loglevel"/],
    ['name-not-dns-1123.yaml', 'connector/Paris_DC', /metadata\.name: Invalid value: "Paris_DC"/],
  ])('refuses examples/invalid/%s with a message naming the field, and stores nothing', (file, resource, message) => {
    const ns = 'invalid-tenant';
    try {
      kube.kubectl(['create', 'namespace', ns]);
    } catch (e) {
      if (!(e instanceof KubeToolError && /AlreadyExists/.test(e.stderr))) throw e;
    }
    let error: unknown;
    try {
      kube.kubectl(['apply', '-n', ns, '-f', join(ROOT, 'examples/invalid', file)]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KubeToolError);
    expect((error as KubeToolError).stderr).toMatch(message);
    expect(kube.kubectl(['get', resource.split('/')[0]!, '-n', ns, '-o', 'name', '--ignore-not-found'])).toBe('');
  });

  describe("the chart's ServiceAccount", () => {
    let sa: string;
    const user = `system:serviceaccount:${SYSTEM_NS}:${RELEASE}`;
    beforeAll(async () => {
      sa = await kube.mintServiceAccountKubeconfig(SYSTEM_NS, RELEASE);
    });

    /** kubectl auth can-i as the ServiceAccount itself (its token), answering yes or no. */
    const can = (...args: string[]): boolean => {
      try {
        return kube.kubectl(['auth', 'can-i', ...args], { kubeconfig: sa }).trim() === 'yes';
      } catch (e) {
        if (e instanceof KubeToolError && e.stdout.trim() === 'no') return false;
        throw e;
      }
    };

    it('authenticates as the ServiceAccount', () => {
      expect(JSON.parse(kube.kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: sa })).status.userInfo.username).toBe(user);
    });

    it('may do what the controller needs', () => {
      for (const plural of plurals) {
        for (const verb of ['get', 'list', 'watch', 'update', 'patch']) expect(can(verb, `${plural}.mdmops.io`, '-n', TENANT_NS), `${verb} ${plural}`).toBe(true);
        expect(can('update', `${plural}.mdmops.io`, '--subresource=status', '-n', TENANT_NS), `update ${plural}/status`).toBe(true);
        expect(can('update', `${plural}.mdmops.io`, '--subresource=finalizers', '-n', TENANT_NS), `update ${plural}/finalizers`).toBe(true);
      }
      expect(can('get', 'secrets', '-n', TENANT_NS)).toBe(true);
      expect(can('create', 'events', '-n', TENANT_NS)).toBe(true);
      expect(can('create', 'events.events.k8s.io', '-n', TENANT_NS)).toBe(true);
      expect(can('create', 'leases.coordination.k8s.io', '-n', SYSTEM_NS)).toBe(true);
      expect(can('update', 'leases.coordination.k8s.io/mdmops-controller', '-n', SYSTEM_NS)).toBe(true);
      // The leader labels its own pod for the gateway Service.
      expect(can('patch', 'pods', '-n', SYSTEM_NS)).toBe(true);
      // And really does it with its token: reads the tenant's resources and Secrets.
      expect(kube.kubectl(['get', 'connectors', '-n', TENANT_NS, '-o', 'name'], { kubeconfig: sa })).toContain('connector.mdmops.io/paris-dc');
    });

    it('may do nothing more', () => {
      for (const [verb, resource, ns] of [
        ['create', 'connectors.mdmops.io', TENANT_NS], ['delete', 'connectors.mdmops.io', TENANT_NS], ['deletecollection', 'spaces.mdmops.io', TENANT_NS],
        ['list', 'secrets', TENANT_NS], ['watch', 'secrets', TENANT_NS], ['list', 'secrets', ''], ['watch', 'secrets', ''],
        ['create', 'secrets', TENANT_NS], ['update', 'secrets', TENANT_NS], ['patch', 'secrets', TENANT_NS], ['delete', 'secrets', TENANT_NS],
        ['list', 'pods', TENANT_NS], ['patch', 'pods', TENANT_NS], ['list', 'pods', SYSTEM_NS], ['delete', 'pods', SYSTEM_NS], ['list', 'configmaps', TENANT_NS], ['get', 'deployments.apps', SYSTEM_NS],
        ['delete', 'events', TENANT_NS], ['list', 'events', TENANT_NS],
        ['create', 'leases.coordination.k8s.io', TENANT_NS], ['update', 'leases.coordination.k8s.io/other-lease', SYSTEM_NS], ['delete', 'leases.coordination.k8s.io/mdmops-controller', SYSTEM_NS],
        ['list', 'leases.coordination.k8s.io', SYSTEM_NS],
        ['create', 'customresourcedefinitions.apiextensions.k8s.io', ''], ['create', 'clusterrolebindings.rbac.authorization.k8s.io', ''],
        ['*', '*', TENANT_NS],
      ] as const) {
        expect(can(verb, resource, ...(ns ? ['-n', ns] : [])), `${verb} ${resource} ${ns}`).toBe(false);
      }
      expect(() => kube.kubectl(['get', 'pods', '-n', TENANT_NS], { kubeconfig: sa })).toThrow(/Forbidden|forbidden/);
      expect(() => kube.kubectl(['get', 'secrets', '--all-namespaces'], { kubeconfig: sa })).toThrow(/forbidden/);
      expect(() => kube.kubectl(['create', 'secret', 'generic', 'stolen', '-n', TENANT_NS, '--from-literal=a=b'], { kubeconfig: sa })).toThrow(/forbidden/);
      expect(() => kube.kubectl(['delete', 'connector', 'paris-dc', '-n', TENANT_NS], { kubeconfig: sa })).toThrow(/forbidden/);
      // Still there: the refused delete changed nothing.
      expect(kube.kubectl(['get', 'connector', 'paris-dc', '-n', TENANT_NS, '-o', 'name'])).toBe('connector.mdmops.io/paris-dc\n');
    });
  });

  it('with watchNamespaces, lets its ServiceAccount read the Secrets of those namespaces and of no other', async () => {
    for (const ns of ['listed-ns', 'mdmops-listed', 'unrelated-ns']) kube.kubectl(['create', 'namespace', ns]);
    for (const ns of ['listed-ns', 'unrelated-ns']) kube.kubectl(['create', 'secret', 'generic', 'db', '-n', ns, '--from-literal=password=canary-7f3a']);
    kube.helm(['install', 'listed', CHART, '-n', 'mdmops-listed', '--set', 'watchNamespaces={listed-ns}', '--set', 'leaderElection.enabled=false']);
    const sa = await kube.mintServiceAccountKubeconfig('mdmops-listed', 'listed-mdmops');
    expect(kube.kubectl(['get', 'secret', 'db', '-n', 'listed-ns', '-o', 'jsonpath={.data.password}'], { kubeconfig: sa })).toBe(Buffer.from('canary-7f3a').toString('base64'));
    expect(() => kube.kubectl(['get', 'secret', 'db', '-n', 'unrelated-ns'], { kubeconfig: sa })).toThrow(/forbidden/);
    expect(() => kube.kubectl(['get', 'secrets', '-n', 'unrelated-ns'], { kubeconfig: sa })).toThrow(/forbidden/);
    expect(() => kube.kubectl(['get', 'secrets', '--all-namespaces'], { kubeconfig: sa })).toThrow(/forbidden/);
  });
});
