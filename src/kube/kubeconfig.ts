// Where the controller finds its cluster and credentials, as kubectl does: --kubeconfig FILE, else
// the files of KUBECONFIG (merged: the first to name a context, cluster or user wins, and the first
// current-context), else ~/.kube/config, else the in-cluster ServiceAccount. Certificates, tokens
// and token files are read here; a kubeconfig whose user runs a command (exec), names an
// auth-provider, or whose cluster goes through a proxy, is handed to @kubernetes/client-node,
// loaded only then: its 800 modules take longer to load than the rest of the controller.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/** What a request to the API server carries: TLS options and headers. The TLS options are the same values from one request to the next until they change (a kept-alive connection is kept for them). */
export interface Credentials {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  rejectUnauthorized?: boolean;
  headers: Record<string, string>;
}

export interface KubeAccess {
  server: string;
  /** Read for each request: a token file (a ServiceAccount's is renewed by the kubelet) is read again. */
  credentials(): Promise<Credentials>;
}

type Named<T> = { name: string } & T;
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: Named<{ context?: { cluster?: string; user?: string } }>[];
  clusters?: Named<{ cluster?: Record<string, unknown> }>[];
  users?: Named<{ user?: Record<string, unknown> }>[];
}

/** What is read here; any other field of a user or cluster goes to the library. */
const USER_FIELDS = new Set(['token', 'tokenFile', 'client-certificate', 'client-certificate-data', 'client-key', 'client-key-data', 'username', 'password']);
const CLUSTER_FIELDS = new Set(['server', 'certificate-authority', 'certificate-authority-data', 'insecure-skip-tls-verify', 'tls-server-name', 'extensions']);

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** A token file is read again after this long (the kubelet renews a ServiceAccount's well before it expires). */
const TOKEN_FILE_REREAD_MS = 60_000;

export async function loadKubeAccess(file?: string, env: NodeJS.ProcessEnv = process.env, serviceAccountDir = SERVICE_ACCOUNT_DIR): Promise<KubeAccess> {
  const files = file ? [file] : (env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? []);
  const home = join(env.HOME || homedir(), '.kube', 'config');
  if (!files.length && existsSync(home)) files.push(home);
  if (!files.length) {
    if (!existsSync(join(serviceAccountDir, 'token'))) throw new Error(`no kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config), and no ServiceAccount token in ${serviceAccountDir}`);
    return inCluster(env, serviceAccountDir);
  }
  // As kubectl: a file of KUBECONFIG that does not exist is left out; --kubeconfig's must exist.
  const docs = files.filter((f) => f === file || existsSync(f)).map((f) => ({ file: f, config: (parse(readFileSync(f, 'utf8')) ?? {}) as KubeconfigFile }));
  const first = <T>(pick: (c: KubeconfigFile) => Named<T>[] | undefined, name: string | undefined) => {
    for (const { file: from, config } of docs) {
      const found = name === undefined ? undefined : pick(config)?.find((e) => e.name === name);
      if (found) return { entry: found, dir: dirname(from) };
    }
    return undefined;
  };
  const current = docs.find((d) => d.config['current-context'])?.config['current-context'];
  if (!current) throw new Error('the kubeconfig has no current-context');
  const context = first((c) => c.contexts, current)?.entry.context;
  if (!context) throw new Error(`the kubeconfig has no context "${current}"`);
  const cluster = first((c) => c.clusters, context.cluster);
  if (!cluster?.entry.cluster?.server) throw new Error(`the kubeconfig has no cluster "${context.cluster}" with a server`);
  const user = first((c) => c.users, context.user);
  const userFields = user?.entry.user ?? {};
  if (Object.keys(userFields).some((k) => !USER_FIELDS.has(k)) || Object.keys(cluster.entry.cluster).some((k) => !CLUSTER_FIELDS.has(k))) {
    return library(file);
  }
  return fromKubeconfig(cluster.entry.cluster, cluster.dir, userFields, user?.dir ?? cluster.dir);
}

function fromKubeconfig(cluster: Record<string, unknown>, clusterDir: string, user: Record<string, unknown>, userDir: string): KubeAccess {
  // Paths in a kubeconfig are relative to the file that names them.
  const fileOf = (dir: string, path: unknown) => (typeof path === 'string' ? readFileSync(isAbsolute(path) ? path : join(dir, path)) : undefined);
  const dataOf = (data: unknown) => (typeof data === 'string' ? Buffer.from(data, 'base64') : undefined);
  const tls: Omit<Credentials, 'headers'> = {
    ca: dataOf(cluster['certificate-authority-data']) ?? fileOf(clusterDir, cluster['certificate-authority']),
    cert: dataOf(user['client-certificate-data']) ?? fileOf(userDir, user['client-certificate']),
    key: dataOf(user['client-key-data']) ?? fileOf(userDir, user['client-key']),
    ...(typeof cluster['tls-server-name'] === 'string' ? { servername: cluster['tls-server-name'] } : {}),
    ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
  };
  const token = typeof user.token === 'string' ? () => user.token as string : typeof user.tokenFile === 'string' ? rereadEvery(fileOf.bind(undefined, userDir, user.tokenFile)) : undefined;
  const basic = typeof user.username === 'string' ? `Basic ${Buffer.from(`${user.username}:${String(user.password ?? '')}`).toString('base64')}` : undefined;
  return {
    server: String(cluster.server),
    credentials: async () => {
      const authorization = token ? `Bearer ${token()}` : basic;
      const headers: Record<string, string> = authorization ? { authorization } : {};
      return { ...tls, headers };
    },
  };
}

function inCluster(env: NodeJS.ProcessEnv, dir: string): KubeAccess {
  const { KUBERNETES_SERVICE_HOST: host = '', KUBERNETES_SERVICE_PORT: port = '443' } = env;
  if (!host) throw new Error('in a cluster (a ServiceAccount token is mounted) but KUBERNETES_SERVICE_HOST is not set');
  const ca = readFileSync(join(dir, 'ca.crt'));
  const token = rereadEvery(() => readFileSync(join(dir, 'token')));
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    credentials: async () => ({ ca, headers: { authorization: `Bearer ${token()}` } }),
  };
}

/** The file's text, read again once it is a minute old. */
function rereadEvery(read: () => Buffer | undefined): () => string {
  let text = '';
  let readAt = -Infinity;
  return () => {
    if (Date.now() - readAt >= TOKEN_FILE_REREAD_MS) [text, readAt] = [String(read() ?? '').trim(), Date.now()];
    return text;
  };
}

/** The kubeconfig as @kubernetes/client-node reads it: exec plugins, auth-providers, proxies. */
async function library(file: string | undefined): Promise<KubeAccess> {
  const [{ KubeConfig }, { Agent }] = await Promise.all([import('@kubernetes/client-node'), import('node:https')]);
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('the kubeconfig has no current cluster');
  // The library reads its credentials afresh for each request: the same ones are handed on as the same values.
  let last: { id: string; tls: Omit<Credentials, 'headers'> } | undefined;
  return {
    server,
    credentials: async () => {
      const opts: { headers: Record<string, string>; agent?: unknown } = { headers: {} };
      await kc.applyToHTTPSOptions(opts);
      const o: Omit<Credentials, 'headers'> = opts.agent instanceof Agent ? (opts.agent as InstanceType<typeof Agent> & { options: Omit<Credentials, 'headers'> }).options : {};
      const tls = { ca: o.ca, cert: o.cert, key: o.key, servername: o.servername, rejectUnauthorized: o.rejectUnauthorized };
      const id = Object.values(tls).map(String).join('|');
      if (last?.id !== id) last = { id, tls };
      return { ...last.tls, headers: opts.headers };
    },
  };
}
