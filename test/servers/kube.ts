// A real, private Kubernetes API for tests: etcd and kube-apiserver on loopback, started the way
// controller-runtime's envtest starts them (no scheduler, no controller-manager: nothing runs pods,
// deleted namespaces stay Terminating, nothing garbage-collects), with generated certificates, an
// admin kubeconfig, and ServiceAccount tokens through the TokenRequest API. The binaries are built
// from Go modules by kube-build.sh (cached outside the clone). Gone, with its temp dir, after stop().
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { issueCert, makeCa } from './certs.js';
import { freePort } from './ports.js';
import { spawnServer, stopServer, type ServerProcess } from './process.js';

export interface KubeCluster {
  /** https://127.0.0.1:PORT */
  server: string;
  /** An admin kubeconfig (client certificate CN=admin, O=system:masters; data embedded). */
  kubeconfig: string;
  /** The CA that signed the API server's certificate (SANs 127.0.0.1 and localhost) and the client certificates. */
  caFile: string;
  /** Where etcd, kube-apiserver, kubectl and helm are. */
  binDir: string;
  /** etcd's client URL (plain HTTP on loopback): tests compact it to make old resource versions expire. */
  etcdUrl: string;
  /** Runs kubectl with the admin kubeconfig (or options.kubeconfig); returns stdout, throws with stderr. */
  kubectl(args: string[], options?: ToolOptions): string;
  /** Runs helm against this cluster (its own cache and config dirs); returns stdout, throws with stderr. */
  helm(args: string[], options?: ToolOptions): string;
  /**
   * A kubeconfig that acts as ServiceAccount NAMESPACE/NAME, with a token from the TokenRequest API
   * (`kubectl create token`, one hour by default). The ServiceAccount must exist. Returns its path.
   */
  mintServiceAccountKubeconfig(namespace: string, serviceAccount: string, options?: { duration?: string }): Promise<string>;
  /** Kills kube-apiserver and etcd and removes the temp dir; safe to call more than once. */
  stop(): Promise<void>;
}

export interface ToolOptions {
  input?: string;
  kubeconfig?: string;
}

/** A kubectl or helm run that exited non-zero: its output is kept for assertions (kubectl auth can-i prints "no"). */
export class KubeToolError extends Error {
  constructor(readonly command: string, readonly status: number | null, readonly stdout: string, readonly stderr: string) {
    super(`${command} exited ${status}: ${(stderr || stdout).trim()}`);
  }
}

const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_SCRIPT = join(ROOT, 'test/servers/kube-build.sh');
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 10_000;
const TOOL_TIMEOUT_MS = 120_000;

/**
 * The bin dir, building the binaries first when they are missing (many minutes on a fresh machine;
 * scripts/ensure-deps.sh --for-tests does it before the tests run). Progress goes to our stderr.
 */
export function kubeBinaries(): Promise<string> {
  return new Promise((resolvePath, reject) => {
    const child = spawn('sh', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => {
      const dir = out.trim().split('\n').pop();
      if (code === 0 && dir) resolvePath(dir);
      else reject(new Error(`${BUILD_SCRIPT} failed (exit ${code}); see its output above`));
    });
  });
}

export interface KubeOptions {
  /** false: watches are served by etcd itself, so a compacted resource version is answered with 410 Gone. */
  watchCache?: boolean;
}

export async function startKube(options: KubeOptions = {}): Promise<KubeCluster> {
  const binDir = await kubeBinaries();
  const bin = (name: string) => join(binDir, name);
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-kube-'));
  const p = (name: string) => join(dir, name);
  const procs: ServerProcess[] = [];

  const stop = async () => {
    for (const proc of [...procs].reverse()) await stopServer(proc, STOP_TIMEOUT_MS);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    // One CA signs the serving certificate and the client certificates, as envtest's does.
    const ca = await makeCa(dir, 'ca', 'mdmops test Kubernetes CA');
    const serving = await issueCert(dir, ca, 'apiserver', { subject: '/CN=kube-apiserver', usage: 'serverAuth', san: 'IP:127.0.0.1,DNS:localhost' });
    const admin = await issueCert(dir, ca, 'admin', { subject: '/CN=admin/O=system:masters', usage: 'clientAuth' });
    // The ServiceAccount token signing key (TokenRequest needs it) and its public half to verify tokens.
    await promisify(execFile)('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('sa.key')]);
    await promisify(execFile)('openssl', ['pkey', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub')]);

    const [etcdPort, peerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]) as [number, number, number];
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    mkdirSync(p('etcd'), { mode: 0o700 });
    procs.push(spawnServer(bin('etcd'), [
      '--data-dir', p('etcd'), '--name', 'default',
      '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster', `default=${peerUrl}`,
      // Durability buys nothing for a throwaway cluster.
      '--unsafe-no-fsync=true', '--log-level=warn',
    ], dir, 'SIGKILL'));
    await waitFor('etcd', procs[0]!, () => httpGet(`${etcdUrl}/health`));

    const server = `https://127.0.0.1:${apiPort}`;
    procs.push(spawnServer(bin('kube-apiserver'), [
      `--etcd-servers=${etcdUrl}`,
      `--secure-port=${apiPort}`, '--bind-address=127.0.0.1', '--advertise-address=127.0.0.1',
      `--tls-cert-file=${serving.cert}`, `--tls-private-key-file=${serving.key}`, `--client-ca-file=${ca.cert}`,
      '--service-cluster-ip-range=10.0.0.0/24', '--allow-privileged=true',
      // No controller-manager creates the tokens it would mount into pods.
      '--disable-admission-plugins=ServiceAccount',
      '--authorization-mode=RBAC',
      `--service-account-issuer=${server}/`, `--service-account-key-file=${p('sa.pub')}`, `--service-account-signing-key-file=${p('sa.key')}`,
      ...(options.watchCache === false ? ['--watch-cache=false'] : []),
    ], dir, 'SIGKILL'));
    const tls = { ca: readFileSync(ca.cert), cert: readFileSync(admin.cert), key: readFileSync(admin.key) };
    await waitFor('kube-apiserver', procs[1]!, async () => (await httpGet(`${server}/healthz`, tls)) && httpGet(`${server}/readyz`, tls));

    const kubeconfig = p('admin.kubeconfig');
    writeFileSync(kubeconfig, kubeconfigText(server, tls.ca, { 'client-certificate-data': b64(tls.cert), 'client-key-data': b64(tls.key) }, 'admin'), { mode: 0o600 });

    const env = {
      ...process.env,
      KUBECONFIG: kubeconfig,
      // Nothing of the person running the tests is read or written.
      KUBECACHEDIR: p('kube-cache'),
      HELM_CACHE_HOME: p('helm/cache'), HELM_CONFIG_HOME: p('helm/config'), HELM_DATA_HOME: p('helm/data'),
    };
    const tool = (name: string) => (args: string[], options: ToolOptions = {}) => {
      const full = ['--kubeconfig', options.kubeconfig ?? kubeconfig, ...args];
      try {
        return execFileSync(bin(name), full, { input: options.input, encoding: 'utf8', env, timeout: TOOL_TIMEOUT_MS, stdio: ['pipe', 'pipe', 'pipe'] });
      } catch (e) {
        const err = e as { stderr?: string; stdout?: string; status?: number | null };
        if (err.stderr === undefined) throw e;
        throw new KubeToolError(`${name} ${args.join(' ')}`, err.status ?? null, err.stdout ?? '', err.stderr);
      }
    };

    let minted = 0;
    return {
      server,
      kubeconfig,
      caFile: ca.cert,
      binDir,
      etcdUrl,
      kubectl: tool('kubectl'),
      helm: tool('helm'),
      async mintServiceAccountKubeconfig(namespace, serviceAccount, options = {}) {
        const { stdout } = await promisify(execFile)(bin('kubectl'), ['create', 'token', serviceAccount, '-n', namespace, '--duration', options.duration ?? '1h', '--kubeconfig', kubeconfig], { env });
        const file = p(`sa-${namespace}-${serviceAccount}-${++minted}.kubeconfig`);
        const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
        writeFileSync(file, kubeconfigText(server, tls.ca, { token: stdout.trim() }, user, namespace), { mode: 0o600 });
        return file;
      },
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

const b64 = (b: Buffer) => b.toString('base64');

/** JSON is YAML: kubectl, helm and @kubernetes/client-node all read it. */
function kubeconfigText(server: string, ca: Buffer, user: Record<string, string>, userName: string, namespace?: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'mdmops-test', cluster: { server, 'certificate-authority-data': b64(ca) } }],
    users: [{ name: userName, user }],
    contexts: [{ name: 'mdmops-test', context: { cluster: 'mdmops-test', user: userName, ...(namespace ? { namespace } : {}) } }],
    'current-context': 'mdmops-test',
  }, null, 2) + '\n';
}

/** True on a 200 answer, false on any other answer or a connection error. */
function httpGet(url: string, tls?: { ca: Buffer; cert: Buffer; key: Buffer }): Promise<boolean> {
  return new Promise((resolveOk) => {
    const req = (url.startsWith('https:') ? request : httpRequest)(url, { ...tls, timeout: 5_000 }, (res) => {
      res.resume();
      resolveOk(res.statusCode === 200);
    });
    req.once('error', () => resolveOk(false));
    req.once('timeout', () => req.destroy());
    req.end();
  });
}

async function waitFor(name: string, proc: ServerProcess, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!proc.running()) throw new Error(`${name} exited while starting: ${proc.log().slice(-4_000)}`);
    if (await ready()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${name} not ready after ${START_TIMEOUT_MS / 1000}s: ${proc.log().slice(-4_000)}`);
}
