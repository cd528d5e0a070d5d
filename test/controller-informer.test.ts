// The controller's informer against a real kube-apiserver, reached through a TCP relay that can
// freeze its connections (they stay open and carry nothing: what a watch that "stops silently"
// looks like from the client). The informer must notice the silence, restart its watch, and see
// what changed meanwhile; and when the version it resumes from has been compacted away (410 Gone),
// list everything again. The API server runs without its watch cache, so watches are served by etcd
// and a compaction makes old versions expire at once.
import { createServer, connect, type Server, type Socket } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { KubeClient, type KubeObject } from '../src/kube/client.js';
import { loadKubeAccess } from '../src/kube/kubeconfig.js';
import { Informer } from '../src/kube/informer.js';
import { createLogger } from '../src/observe/log.js';
import { ROOT } from './support/cli.js';
import { eventually } from './support/controller.js';
import { startKube, type KubeCluster } from './servers/kube.js';

interface Relay {
  port: number;
  /** Every connection open now stops carrying bytes, both ways, and is not closed. */
  freeze(): number;
  close(): Promise<void>;
}

async function relay(target: number): Promise<Relay> {
  const pairs: [Socket, Socket][] = [];
  const server: Server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    freeze() {
      let n = 0;
      for (const [client, upstream] of pairs.splice(0)) {
        if (client.destroyed) continue;
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        n++;
      }
      return n;
    },
    close: () =>
      new Promise((resolve) => {
        for (const [a, b] of pairs) a.destroy(), b.destroy();
        server.close(() => resolve());
      }),
  };
}

let kube: KubeCluster;
let dir: string;

beforeAll(async () => {
  kube = await startKube({ watchCache: false });
  dir = mkdtempSync(join(tmpdir(), 'mdmops-informer-'));
  for (const f of readdirSync(join(ROOT, 'charts/mdmops/crds'))) kube.kubectl(['apply', '-f', join(ROOT, 'charts/mdmops/crds', f)]);
  kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  kube.kubectl(['create', 'namespace', 'silent']);
}, 60 * 60_000);

afterAll(async () => {
  await kube?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const space = (name: string, namespace = 'silent') => JSON.stringify({ apiVersion: 'mdmops.io/v1alpha1', kind: 'Space', metadata: { name, namespace }, spec: { displayName: name, priority: 1, members: { groups: ['g'] }, admins: { groups: ['a'] } } });

/** The informer of a namespace's Spaces, reaching the API server through a relay. */
async function relayedInformer(namespace: string, silenceMs: number) {
  const r = await relay(Number(new URL(kube.server).port));
  // The admin kubeconfig, pointed at the relay (the serving certificate names 127.0.0.1 either way).
  const config = JSON.parse(readFileSync(kube.kubeconfig, 'utf8'));
  config.clusters[0].cluster.server = `https://127.0.0.1:${r.port}`;
  const file = join(dir, `relay-${namespace}.kubeconfig`);
  writeFileSync(file, JSON.stringify(config));
  const events: string[] = [];
  const restarts: string[] = [];
  const log = createLogger({ level: 'warn', pretty: false, destination: new Writable({ write: (_c, _e, cb) => cb() }) });
  const informer = new Informer(new KubeClient(await loadKubeAccess(file)), {
    path: `/apis/mdmops.io/v1alpha1/namespaces/${namespace}/spaces`,
    watchTimeoutSeconds: 300,
    silenceMs,
    log,
    onEvent: (type, o: KubeObject) => events.push(`${type} ${o.metadata.name}`),
    onRestart: (reason) => restarts.push(reason),
  });
  return { r, informer, events, restarts };
}

it('restarts a watch that went silent and catches up on what happened meanwhile', async () => {
  const { r, informer, events, restarts } = await relayedInformer('silent', 1500);
  kube.kubectl(['apply', '-f', '-'], { input: space('before') });
  informer.start();
  try {
    await eventually('listed', () => informer.synced || undefined);
    expect(events).toContain('add before');
    kube.kubectl(['apply', '-f', '-'], { input: space('while-watching') });
    await eventually('watched', () => events.includes('add while-watching') || undefined);

    expect(r.freeze()).toBeGreaterThan(0);
    kube.kubectl(['apply', '-f', '-'], { input: space('while-silent') });
    // Nothing arrives over the frozen watch; the informer gives up on it and watches anew.
    await eventually('seen after the silence', () => events.includes('add while-silent') || undefined, 30_000);
    expect(restarts).toContain('silent');
    expect([...informer.cache.keys()].sort()).toEqual(['silent/before', 'silent/while-silent', 'silent/while-watching']);

    kube.kubectl(['delete', 'space', 'before', '-n', 'silent']);
    await eventually('delete seen', () => events.includes('delete before') || undefined);
    expect(informer.cache.has('silent/before')).toBe(false);
  } finally {
    await informer.stop();
    await r.close();
  }
});

/** Compacts etcd up to now, through its JSON gateway: every older revision is gone. */
async function compactEtcd(): Promise<void> {
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${kube.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect(res.status, path).toBe(200);
    return (await res.json()) as { header: { revision: string } };
  };
  const { header } = await post('/v3/kv/range', { key: Buffer.from('/').toString('base64') });
  await post('/v3/kv/compaction', { revision: header.revision, physical: true });
}

it('lists everything again when the version it resumes from was compacted away (410 Gone)', async () => {
  kube.kubectl(['create', 'namespace', 'compacted']);
  // Silence is noticed late here: the changes and the compaction must all happen before the watch resumes.
  const { r, informer, events, restarts } = await relayedInformer('compacted', 8000);
  kube.kubectl(['apply', '-f', '-'], { input: space('kept', 'compacted') + '\n---\n' + space('removed', 'compacted') });
  informer.start();
  try {
    await eventually('listed', () => informer.synced || undefined);
    expect(r.freeze()).toBeGreaterThan(0);
    kube.kubectl(['apply', '-f', '-'], { input: space('added', 'compacted') });
    kube.kubectl(['delete', 'space', 'removed', '-n', 'compacted']);
    await compactEtcd();
    await eventually('a relist after 410 Gone', () => restarts.includes('gone') || undefined, 60_000);
    await eventually('caught up', () => (events.includes('add added') && events.includes('delete removed')) || undefined, 30_000);
    expect([...informer.cache.keys()].sort()).toEqual(['compacted/added', 'compacted/kept']);
  } finally {
    await informer.stop();
    await r.close();
  }
});
