// A failure the controller must not retry with backoff (a TerminalError), against a real
// kube-apiserver and Pebble: a PublicCloud CA whose ACME server requires an external account binding
// that its spec does not give. The custom resource says why, the controller's metrics count it as
// terminal (not a requeue), and it is reconciled again when its spec changes.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ROOT } from './support/cli.js';
import { eventually, startController, type ControllerProcess } from './support/controller.js';
import { startKube, type KubeCluster } from './servers/kube.js';
import { startPebble, type PebbleServer } from './servers/pebble.js';
import { freePort } from './servers/ports.js';

const NS = 'acme';
let kube: KubeCluster;
let pebble: PebbleServer;
let controller: ControllerProcess;
let dir: string;

beforeAll(async () => {
  [kube, pebble] = await Promise.all([startKube(), startPebble({ eabRequired: true })]);
  dir = mkdtempSync(join(tmpdir(), 'mdmops-terminal-'));
  for (const f of readdirSync(join(ROOT, 'charts/mdmops/crds'))) kube.kubectl(['apply', '-f', join(ROOT, 'charts/mdmops/crds', f)]);
  kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  kube.kubectl(['create', 'namespace', NS]);
  const pebbleTls = join(dir, 'pebble-tls.pem');
  writeFileSync(pebbleTls, pebble.caPem);
  controller = startController(['--kubeconfig', kube.kubeconfig, '--store', `sqlite:${join(dir, 'tenant.db')}`, '--allow-internal-targets'], await freePort(), {
    MDMOPS_MASTER_KEY_FILE: join(dir, 'master.key'),
    NODE_EXTRA_CA_CERTS: pebbleTls,
  });
}, 60 * 60_000);

afterAll(async () => {
  await controller?.stop();
  await Promise.all([kube?.stop(), pebble?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ca = (spec: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: 'mdmops.io/v1alpha1', kind: 'CertificateAuthority', metadata: { name: 'public', namespace: NS }, spec: { type: 'PublicCloud', directoryUrl: pebble.directoryUrl, email: 'pki@contoso.com', termsOfServiceAgreed: true, ...spec } });
const apply = (json: string) => {
  const file = join(dir, 'ca.json');
  writeFileSync(file, json);
  kube.kubectl(['apply', '-f', file]);
};
const ready = () => (JSON.parse(kube.kubectl(['get', 'certificateauthorities', 'public', '-n', NS, '-o', 'json'])).status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready');
const reconciles = (result: string) => controller.metric('mdmops_controller_reconciles_total', { kind: 'CertificateAuthority', result });

it('says why on the resource, does not retry it with backoff, and takes it up again when its spec changes', async () => {
  apply(ca({}));
  const refused = await eventually('the CA refused as terminal', () => (ready()?.reason === 'AccountRejected' ? ready() : undefined));
  expect(refused).toMatchObject({ status: 'False', message: expect.stringMatching(/requires an external account binding/) });
  expect(await reconciles('terminal')).toBeGreaterThanOrEqual(1);
  // Before terminal errors, this failure was requeued with backoff (counted as a requeue) and tried again.
  expect(await reconciles('requeue')).toBe(0);

  kube.kubectl(['create', 'secret', 'generic', 'acme', '-n', NS, `--from-literal=hmac=${pebble.eab.hmacKey}`]);
  apply(ca({ externalAccountBinding: { keyId: pebble.eab.keyId, hmacKeySecretRef: { name: 'acme', key: 'hmac' } } }));
  expect(await eventually('the CA Ready once its binding is given', () => (ready()?.status === 'True' ? ready() : undefined))).toMatchObject({ reason: 'AccountReady' });
}, 10 * 60_000);
