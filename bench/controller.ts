// Benchmark: `mdmops controller` against a real kube-apiserver (test/servers/kube.ts). N Space
// custom resources (default 1,000) are applied, then the controller is started and timed until
// every one is seen Ready with its observedGeneration through a watch. The floor, measured in the
// same run, is a plain client patching the status of N such objects directly (the same API writes,
// with no engine), timed until the same watch sees them all Ready; and, for scale, the same client
// making the controller's two writes a resource (its finalizer, then its status). BENCH_RUNS rounds
// (3), each on a cluster of its own, the round of median ratio shown.
// Prints the time, the ratio, the controller's peak RSS, and the API writes it makes during a
// resync that finds nothing to do (goal: zero).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { KINDS } from '../src/api/index.js';
import { KubeClient, JSON_PATCH, type KubeObject } from '../src/kube/client.js';
import { collectionPath } from '../src/kube/paths.js';
import { loadKubeAccess } from '../src/kube/kubeconfig.js';
import { Informer } from '../src/kube/informer.js';
import { createLogger } from '../src/observe/log.js';
import { limiter } from '../src/util/limit.js';
import { freePort } from '../test/servers/ports.js';
import { startKube } from '../test/servers/kube.js';

const N = Number(process.env.BENCH_RESOURCES ?? 1000);
const CONCURRENCY = 8;
/** Rounds of floor and controller, the round of median ratio shown: the API server's own pace varies from one to the next. */
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const REPO = resolve(import.meta.dirname, '../..');
const PATH = (ns: string) => `/apis/mdmops.io/v1alpha1/namespaces/${ns}/spaces`;

const space = (ns: string, i: number) => ({
  apiVersion: 'mdmops.io/v1alpha1',
  kind: 'Space',
  metadata: { name: `space-${i}`, namespace: ns },
  spec: { displayName: `Space ${i}`, priority: i + 1, members: { groups: [`devices-${i}`] }, admins: { groups: [`admins-${i}`] } },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ready = (o: KubeObject) =>
  o.status?.observedGeneration === o.metadata.generation && (o.status?.conditions as { type: string; status: string }[] | undefined)?.some((c) => c.type === 'Ready' && c.status === 'True');

function httpGet(port: number, path: string): Promise<string> {
  return new Promise((resolveBody, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolveBody(body));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The sum of a metric's samples (all its labels) in one scrape. */
function sumOf(scrape: string, name: string): number {
  let sum = 0;
  for (const line of scrape.split('\n')) {
    const m = /^(\w+)(?:\{.*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[2]);
  }
  return sum;
}

const metric = async (port: number, name: string) => sumOf(await httpGet(port, '/metrics'), name);

/**
 * Resolves once every one of the N Spaces of the namespace has been seen Ready with its
 * observedGeneration, through a watch: not listed again and again, which would take the API
 * server's time (and this machine's) from what is measured.
 */
async function allReadySeen(client: KubeClient, ns: string): Promise<{ done: Promise<void>; stop(): Promise<void> }> {
  let shown = 0;
  const readyNames = new Set<string>();
  let informer: Informer;
  const done = new Promise<void>((resolveDone) => {
    informer = new Informer(client, {
      path: PATH(ns),
      watchTimeoutSeconds: 300,
      silenceMs: 330_000,
      log: createLogger({ level: 'warn', destination: process.stderr }),
      onEvent: (type, o) => {
        if (type !== 'delete' && ready(o)) readyNames.add(o.metadata.name);
        else readyNames.delete(o.metadata.name);
        const seen = readyNames.size;
        // On a terminal a line that counts up; in a log, a line every 100 more.
        if (process.stdout.isTTY) process.stdout.write(`\r${ns}: ${seen}/${N} Ready`);
        else if (seen >= shown + 100) process.stdout.write(`${ns}: ${(shown = seen - (seen % 100))}/${N} Ready\n`);
        if (seen === N) resolveDone();
      },
    });
    informer.start();
  });
  // Listed before the clock starts: the watch's first list is the bench's, not what it measures.
  while (!informer!.synced) await sleep(20);
  return { done, stop: () => informer.stop() };
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Round {
  floorMs: number;
  controllerMs: number;
  /** For scale: a plain client making the controller's two writes a resource. */
  twoWritesMs: number;
  /** The last round only: the controller's peak RSS and its API writes in a no-op resync. */
  rssMiB?: number;
  resyncWrites?: number;
}

/** One round on a cluster of its own (what earlier rounds left in etcd and the watch cache weighs on the next). */
async function round(n: number, last: boolean): Promise<Round> {
  const kube = await startKube();
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-controller-'));
  let child: ReturnType<typeof spawn> | undefined;
  let watching: { done: Promise<void>; stop(): Promise<void> } | undefined;
  try {
    for (const f of readdirSync(join(REPO, 'charts/mdmops/crds'))) kube.kubectl(['apply', '-f', join(REPO, 'charts/mdmops/crds', f)]);
    kube.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    const client = new KubeClient(await loadKubeAccess(kube.kubeconfig));
    // Each kind's watch cache initialised (a list from it answers): on a cluster just started, the
    // controller's first lists would otherwise be told to come back later (429), a pause not its own.
    for (const def of KINDS) {
      while (!(await client.request('GET', `${collectionPath(def)}?resourceVersion=0&limit=1`).then(() => true, () => false))) await sleep(100);
    }
    const create = async (ns: string) => {
      await client.request('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      const run = limiter(CONCURRENCY);
      await Promise.all(Array.from({ length: N }, (_, i) => run(() => client.request('POST', PATH(ns), space(ns, i)))));
    };

    // A plain client's writes to the N Spaces of a namespace, `concurrency` at a time, timed until
    // the same watch as the controller's sees them all Ready (the watch's own cost, in the API server
    // and here, is then in both): each status; with `finalizer`, each finalizer first, as the controller.
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', observedGeneration: 1, lastTransitionTime: now }] };
    const plainClient = async (ns: string, finalizer: boolean) => {
      await create(ns);
      watching = await allReadySeen(client, ns);
      const started = process.hrtime.bigint();
      const run = limiter(CONCURRENCY);
      await Promise.all(
        Array.from({ length: N }, (_, i) =>
          run(async () => {
            if (finalizer) await client.request('PATCH', `${PATH(ns)}/space-${i}`, [{ op: 'add', path: '/metadata/finalizers', value: ['bench.mdmops.io/finalizer'] }], JSON_PATCH);
            await client.request('PATCH', `${PATH(ns)}/space-${i}/status`, [{ op: 'add', path: '/status', value: status }], JSON_PATCH);
          }),
        ),
      );
      await watching.done;
      await watching.stop();
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    // The floor: the status writes alone.
    const floorMs = await plainClient('floor', false);

    // The controller, started once the resources exist.
    await create('bench');
    const port = await freePort();
    watching = await allReadySeen(client, 'bench');
    const started = process.hrtime.bigint();
    child = spawn(process.execPath, [...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []), join(REPO, 'bin/mdmops.js'), 'controller', '--kubeconfig', kube.kubeconfig, '--namespace', 'bench', '--listen', `127.0.0.1:${port}`,
      '--store', `sqlite:${join(dir, 'tenant.db')}`, '--concurrency', String(CONCURRENCY), '--resync', '10s'], {
      env: { ...process.env, MDMOPS_MASTER_KEY_FILE: join(dir, 'master.key'), MDMOPS_LOG_JSON: '1', MDMOPS_LOG_LEVEL: 'warn' },
      // Its log (warnings: the master key it creates) goes to a file, shown if it exits.
      stdio: ['ignore', 'ignore', openSync(join(dir, 'controller.log'), 'w')],
    });
    const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`the controller exited (${code}):\n${readFileSync(join(dir, 'controller.log'), 'utf8')}`))));
    exited.catch(() => undefined); // once it is Ready, its exit is the bench stopping it
    await Promise.race([watching.done, exited]);
    await watching.stop();
    const controllerMs = Number(process.hrtime.bigint() - started) / 1e6;
    // Counted now: a resync during what follows would add its own.
    const scrape = await httpGet(port, '/metrics');
    const byResult = scrape.split('\n').filter((l) => l.startsWith('mdmops_controller_reconciles_total{')).map((l) => `${/result="(\w+)"/.exec(l)?.[1]} ${l.split(' ').at(-1)}`).join(', ');
    const counts = `${sumOf(scrape, 'mdmops_controller_reconciles_total')} reconciles (${byResult}), ${sumOf(scrape, 'mdmops_controller_api_writes_total')} API writes`;
    // For scale, once the controller is measured (its objects would weigh on it): the same two writes a resource as the controller's.
    const twoWritesMs = await plainClient('two-writes', true);
    process.stdout.write(
      `round ${n}: floor ${s(floorMs)}, controller ${s(controllerMs)} = ${(controllerMs / floorMs).toFixed(2)}x ` +
        `(a plain client's finalizer and status writes: ${s(twoWritesMs)}, the controller ${(controllerMs / twoWritesMs).toFixed(2)}x that); ${counts} until all were Ready\n`,
    );
    if (!last) return { floorMs, controllerMs, twoWritesMs };

    // A resync that finds nothing to do: every key reconciled again, writes counted (Lease renewals aside; there is no election here).
    let before = await metric(port, 'mdmops_controller_api_writes_total');
    for (;;) {
      const reconciles = await metric(port, 'mdmops_controller_reconciles_total');
      while ((await metric(port, 'mdmops_controller_reconciles_total')) < reconciles + N) await sleep(500);
      const after = await metric(port, 'mdmops_controller_api_writes_total');
      if (after === before) break; // a whole resync with no write: settled
      process.stdout.write(`(a resync still wrote ${after - before} times: settling)\n`);
      before = after;
    }
    const reconciles = await metric(port, 'mdmops_controller_reconciles_total');
    while ((await metric(port, 'mdmops_controller_reconciles_total')) < reconciles + N) await sleep(500);
    const resyncWrites = (await metric(port, 'mdmops_controller_api_writes_total')) - before;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
    return { floorMs, controllerMs, twoWritesMs, resyncWrites, ...(hwm ? { rssMiB: Math.round(Number(hwm) / 1024) } : {}) };
  } finally {
    await watching?.stop();
    if (child?.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child!.once('exit', r));
    }
    await kube.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// The cluster helper finds its build script beside itself; the compiled copy lives under dist/.
const script = join(REPO, 'dist/test/servers/kube-build.sh');
if (!existsSync(script)) copyFileSync(join(REPO, 'test/servers/kube-build.sh'), script);
const rounds: Round[] = [];
for (let n = 1; n <= RUNS; n++) rounds.push(await round(n, n === RUNS));
const ratio = (r: Round) => r.controllerMs / r.floorMs;
const median = [...rounds].sort((a, b) => ratio(a) - ratio(b))[Math.floor(rounds.length / 2)]!;
const { rssMiB, resyncWrites } = rounds.at(-1)!;
process.stdout.write(`\nmdmops controller, ${N.toLocaleString('en-US')} Space custom resources (concurrency ${CONCURRENCY}), the round of median ratio of ${RUNS}:\n`);
process.stdout.write(`  floor: a plain client patching ${N} statuses, until all are seen Ready   ${s(median.floorMs)}\n`);
process.stdout.write(`  controller: start until all are seen Ready (observedGeneration)   ${s(median.controllerMs)}  (${ratio(median).toFixed(2)}x the floor; goal 3x)\n`);
process.stdout.write(`  for scale: a plain client writing each finalizer, then each status ${s(median.twoWritesMs)}  (the controller ${(median.controllerMs / median.twoWritesMs).toFixed(2)}x that)\n`);
process.stdout.write(`  controller peak RSS (last round)                                  ${rssMiB ?? 'unknown'} MiB\n`);
process.stdout.write(`  API writes during a no-op resync of ${N} resources                 ${resyncWrites} (goal: 0)\n`);
if (resyncWrites !== 0) process.exitCode = 1;
