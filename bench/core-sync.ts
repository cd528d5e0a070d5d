// Benchmark: core sync of a tenant of N resources (default 10,000: mostly Spaces, with certificate
// authorities and certificate configurations) from one mdmops core to a peer `mdmops serve`, as a
// user runs it (`mdmops sync CoreSyncTarget/peer` on the sending core, a process of its own, timed
// from start to exit; the peer a fresh store each run), against a floor measured in the same run:
// - the same bundle bytes POSTed over HTTPS (a new TLS connection, the peer's certificate) to a
//   plain Node https server that discards them, plus
// - the receiver's own `mdmops apply -f` of the same resources from YAML files into a fresh store
//   (a process of its own, timed from start to exit).
// Goal: within 1.5x the floor. Then an unchanged resync: under 1 KB of request body (the sync log's
// count; the bytes that crossed the wire are counted by a relay too, TLS handshake included) and
// nothing written on the receiver (its store's files unchanged).
// The sending core resolves the peer's fully qualified name through a hosts file of its own (a
// mount namespace, as the tests do): this needs root (unshare --mount).
import { spawn, spawnSync } from 'node:child_process';
import { PEAK_RSS_PRELOAD, timed, type Run } from './timed.js';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundle, contentHash } from '../src/providers/core-sync-target/bundle.js';
import type { ProviderContext } from '../src/engine/provider.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { issueCert, makeCa } from '../test/servers/certs.js';
import { freePort } from '../test/servers/ports.js';
import { time } from './sync-common.js';

const RESOURCES = Number(process.env.BENCH_RESOURCES ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`BENCH_RUNS must be a whole number of runs, 1 or more: ${process.env.BENCH_RUNS}`);
const GOAL = 1.5;
const FQDN = 'peer.mdmops-bench.example';
const PASSWORD = 'a-long-enough-bench-password';
/** Of the resources: certificate authorities (half roots, half intermediates) and certificate configurations; the rest Spaces. */
const CAS = Math.min(100, Math.floor(RESOURCES / 100) * 2);
const CONFIGURATIONS = Math.min(200, Math.floor(RESOURCES / 50));
const PER_FILE = 100;

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const BIN = join(ROOT, 'bin/mdmops.js');

const doc = (kind: string, name: string, spec: string) => `apiVersion: mdmops.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\n  labels: { team: t${name.length % 7} }\nspec:\n${spec.replace(/^/gm, '  ')}\n`;

/** The tenant as YAML documents: CAs, certificate configurations referencing them, and Spaces (as bench/corpus.ts writes them). */
function tenantDocs(): string[] {
  const out: string[] = [];
  const roots = CAS / 2;
  for (let i = 0; i < roots; i++) out.push(doc('CertificateAuthority', `root-${i}`, `type: Local\nsubject: { commonName: Root ${i}, organization: Contoso, country: FR }\nkeyAlgorithm: ECDSA-P256\nvalidity: 3650d\nrenewBefore: 90d`));
  for (let i = 0; i < roots; i++) out.push(doc('CertificateAuthority', `issuing-${i}`, `type: Intermediate\nissuerRef: { name: root-${i} }\nsubject: { commonName: Issuing ${i}, organization: Contoso }\nkeyAlgorithm: ECDSA-P256`));
  for (let i = 0; i < CONFIGURATIONS; i++) {
    out.push(doc('CertificateConfiguration', `identity-${i}`, `identity:\n  certificateAuthorityRef: { name: issuing-${i % roots} }\n  subject: CN=\${userUPN},OU=Devices,O=Contoso\n  subjectAltNames:\n    - { type: UPN, value: "\${userUPN}" }\n    - { type: Email, value: "\${userEmailAddress}" }\n  usages: { clientAuthentication: true, smartCardLogon: true, customOids: [1.3.6.1.4.1.311.10.3.4] }\ndistribution:\n  devices: Custom\n  selector: { groups: [g${i}] }`));
  }
  for (let i = 0; out.length < RESOURCES; i++) {
    out.push(doc('Space', `space-${String(i).padStart(5, '0')}`, `displayName: Space ${i}\npriority: ${i + 1}\nmembers: { groups: [devices-${i}, site-${i % 50}] }\nadmins: { groups: [admins-${i % 100}], users: [admin${i % 100}@contoso.com] }`));
  }
  return out;
}

const profile = (name: string) => (process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`] : []);
/** mdmops, as `node bin/mdmops.js`. */
const mdmops = (name: string, ...args: string[]) => [process.execPath, ...profile(name), '--import', PEAK_RSS_PRELOAD, BIN, ...args];

const benchStart = Date.now();
const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-core-sync-'));
let serve: ReturnType<typeof spawn> | undefined;
try {
  // The peer's certificate for its fully qualified name; the sending core resolves that name through a hosts file of its own.
  const ca = await makeCa(dir, 'ca', 'Bench CA');
  const cert = await issueCert(dir, ca, 'peer', { subject: `/CN=${FQDN}`, usage: 'serverAuth', san: `DNS:${FQDN}` });
  const pin = new X509Certificate(readFileSync(cert.cert)).fingerprint256.replace(/:/g, '').toLowerCase();
  const hosts = join(dir, 'hosts');
  writeFileSync(hosts, `127.0.0.1 localhost\n127.0.0.1 ${FQDN}\n`);
  const inNamespace = ['unshare', '--mount', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', hosts];
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);

  // The resources, in files of PER_FILE documents: what the sending core applied, and what the floor's apply reads.
  const docs = tenantDocs();
  const resources = join(dir, 'resources');
  mkdirSync(resources);
  for (let f = 0; f * PER_FILE < docs.length; f++) writeFileSync(join(resources, `file-${String(f).padStart(4, '0')}.yaml`), docs.slice(f * PER_FILE, (f + 1) * PER_FILE).join('---\n'));

  // The peer's endpoint is reached through a relay that counts what the sender writes (TLS included).
  const peerPort = await freePort();
  let wireBytes = 0;
  const relay = createServer((client) => {
    const upstream = connect(peerPort, '127.0.0.1');
    client.on('data', (c: Buffer) => (wireBytes += c.length));
    client.pipe(upstream).pipe(client);
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const relayPort = (relay.address() as AddressInfo).port;

  const sender = join(dir, 'sender');
  mkdirSync(join(sender, 'target'), { recursive: true });
  writeFileSync(join(sender, 'target', 'peer.yaml'), doc('CoreSyncTarget', 'peer', `fqdn: ${FQDN}\nport: ${relayPort}\nsyncInterval: 1h\ncredentials: { username: sync, passwordSecretRef: { name: peer, key: password } }\ntrust: { certificateSha256: "${pin}" }`));
  const senderEnv = { MDMOPS_SECRET_PEER__PASSWORD: PASSWORD };
  const applied = await timed(sender, [...inNamespace, ...mdmops('sender-apply', 'apply', '-f', resources, '-f', 'target', '--auto-approve')], senderEnv);
  if (!applied.stdout.includes(`${RESOURCES + 1} created`)) throw new Error(`the sending core's apply did not create every resource:\n${applied.stdout.slice(-2000)}${applied.stderr}`);
  const wrapper = await timed(dir, [...inNamespace, 'true']);
  console.log(
    `Core sync: a tenant of ${RESOURCES.toLocaleString('en-US')} resources (${docs.length - CAS - CONFIGURATIONS} Spaces, ${CAS} CertificateAuthorities, ${CONFIGURATIONS} CertificateConfigurations), ` +
      `applied on the sending core in ${s(applied.ms)} s; best of ${RUNS} run${RUNS > 1 ? 's' : ''} each, floor and runs taken in turn`,
  );
  console.log(`  for scale: the mount namespace around the sending core's commands costs ${wrapper.ms.toFixed(0)} ms a command (counted in the runs, not in the floor)`);

  // The bundle the sending core sends, made as it makes it.
  const senderStore = await openStore(parseStoreSpec(`sqlite:${join(sender, '.mdmops', 'tenant.db')}`));
  const records = await senderStore.listRecords({ tenant: 'default' });
  await senderStore.close();
  const ctx = { blob: async () => undefined } as unknown as ProviderContext;
  const { body: bundleBytes, bundle } = await buildBundle(ctx, records, { core: 'bench', tenant: 'default', generation: 1, sha256: contentHash(records) });
  if (bundle.items.length !== RESOURCES) throw new Error(`the bundle holds ${bundle.items.length} items, not ${RESOURCES}`);
  console.log(`  the bundle: ${bundle.items.length} items, ${kib(bundleBytes.length)} gzipped (${kib(Buffer.byteLength(JSON.stringify(bundle)))} of JSON)`);

  // The floor's HTTPS server: the peer's certificate, the body read and dropped.
  const sink = createHttpsServer({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }, (req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(JSON.stringify({ received: n })));
  });
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
  const sinkPort = (sink.address() as AddressInfo).port;
  const post = () =>
    time(
      () =>
        new Promise<void>((resolve, reject) => {
          const req = httpsRequest({ host: '127.0.0.1', port: sinkPort, servername: FQDN, method: 'POST', path: '/v1/core-sync/bundles', agent: false, rejectUnauthorized: false, headers: { 'content-type': 'application/gzip', 'content-length': bundleBytes.length } }, (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => (JSON.parse(text).received === bundleBytes.length ? resolve() : reject(new Error(`the sink received ${text}`))));
          });
          req.on('error', reject);
          req.end(bundleBytes);
        }),
    );

  const posts: number[] = [];
  const applies: Run[] = [];
  const firsts: Run[] = [];
  const seconds: Run[] = [];
  const receiverRss: number[] = [];
  const healthWaits: number[] = [];
  let unchangedBody = 0;
  let unchangedWire = 0;
  let receiverWrites = 'unchanged';
  for (let run = 0; run < RUNS; run++) {
    // Floor: the POST, then the receiver's own apply of the same files into a fresh store.
    posts.push(await post());
    const floorDir = join(dir, `floor-${run}`);
    mkdirSync(floorDir);
    const own = await timed(floorDir, mdmops('floor-apply', 'apply', '-f', resources, '--auto-approve'), {}, join(dir, 'rss'));
    if (!own.stdout.includes(`${RESOURCES} created`)) throw new Error(`the floor's apply did not create every resource:\n${own.stdout.slice(-2000)}`);
    applies.push(own);
    rmSync(floorDir, { recursive: true, force: true });

    // The peer: a fresh store with the sync account, its mdmops serve with the core-sync endpoint.
    const receiver = join(dir, `receiver-${run}`);
    mkdirSync(receiver);
    const account = spawnSync(process.execPath, [BIN, 'core-sync', 'account', 'add', 'sync', '--password-file', join(dir, 'password')], { cwd: receiver, encoding: 'utf8' });
    if (account.status !== 0) throw new Error(account.stderr);
    const healthPort = await freePort();
    serve = spawn(process.execPath, [...profile('receiver'), BIN, 'serve', '--listen', `127.0.0.1:${healthPort}`, '--core-sync-listen', `127.0.0.1:${peerPort}`, '--core-sync-cert', cert.cert, '--core-sync-key', cert.key, '--core-name', 'peer', '--interval', '1h'], {
      cwd: receiver,
      env: { ...process.env, MDMOPS_LOG_JSON: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    serve.stderr!.on('data', (c: Buffer) => (log += c.toString()));
    for (let i = 0; !log.includes('core sync listening'); i++) {
      if (i > 200 || serve.exitCode !== null) throw new Error(`the peer's mdmops serve did not start:\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }

    // While it receives, how long the peer's /healthz keeps a probe waiting (one at a time, every 50 ms).
    let probing = true;
    const probes = (async () => {
      let longest = 0;
      while (probing) {
        longest = Math.max(longest, await time(async () => (await fetch(`http://127.0.0.1:${healthPort}/healthz`)).text()));
        await new Promise((r) => setTimeout(r, 50));
      }
      return longest;
    })();
    const first = await timed(sender, [...inNamespace, ...mdmops('sender-sync', 'sync', 'CoreSyncTarget/peer')], senderEnv, join(dir, 'rss'));
    probing = false;
    healthWaits.push(await probes);
    if (!first.stdout.includes(`applied generation 1 (${RESOURCES} items)`)) throw new Error(`the sync did not apply every item:\n${first.stdout}${first.stderr}`);
    const peerStore = await openStore(parseStoreSpec(`sqlite:${join(receiver, '.mdmops', 'tenant.db')}`));
    const held = (await peerStore.listRecords({ tenant: 'default' })).length;
    await peerStore.close();
    if (held !== RESOURCES) throw new Error(`the peer holds ${held} resources, not ${RESOURCES}`);
    firsts.push(first);

    // Unchanged: a check, nothing applied, nothing written on the peer.
    const files = () => ['tenant.db', 'tenant.db-wal'].map((f) => join(receiver, '.mdmops', f)).filter(existsSync).map((f) => `${f}:${createHash('sha256').update(readFileSync(f)).digest('hex')}`).join();
    const before = files();
    wireBytes = 0;
    const second = await timed(sender, [...inNamespace, ...mdmops('sender-resync', 'sync', 'CoreSyncTarget/peer')], senderEnv, join(dir, 'rss'));
    if (!second.stdout.includes('Unchanged')) throw new Error(`the resync was not Unchanged:\n${second.stdout}${second.stderr}`);
    const entry = JSON.parse(spawnSync(process.execPath, [BIN, 'core-sync', 'log', 'CoreSyncTarget/peer', '-o', 'json'], { cwd: sender, encoding: 'utf8' }).stdout)[0] as { result: string; bytes: number };
    if (entry.result !== 'Unchanged') throw new Error(`the sync log's last entry is ${JSON.stringify(entry)}`);
    unchangedBody = Math.max(unchangedBody, entry.bytes);
    unchangedWire = Math.max(unchangedWire, wireBytes);
    if (files() !== before) receiverWrites = 'WRITTEN';
    seconds.push(second);

    receiverRss.push(Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${serve.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);
    serve.kill('SIGTERM');
    await new Promise((r) => serve!.once('exit', r));
    serve = undefined;
    rmSync(receiver, { recursive: true, force: true });
  }
  relay.close();
  sink.close();

  const best = (xs: number[]) => Math.min(...xs);
  const postMs = best(posts);
  const applyMs = best(applies.map((r) => r.ms));
  const floor = postMs + applyMs;
  const first = best(firsts.map((r) => r.ms));
  const second = best(seconds.map((r) => r.ms));
  const ratio = first / floor;
  console.log(`  floor: ${s(floor)} s = the bundle POSTed over HTTPS to a sink ${postMs.toFixed(1)} ms (runs: ${posts.map((ms) => ms.toFixed(1)).join(', ')} ms) + the receiver's own mdmops apply -f of the files into a fresh store ${s(applyMs)} s${all(applies.map((r) => r.ms))}`);
  console.log(`  mdmops sync CoreSyncTarget/peer (every item applied on the peer): ${s(first)} s, ${ratio.toFixed(2)}x the floor (goal ${GOAL}x: ${met(ratio <= GOAL)})${all(firsts.map((r) => r.ms))}`);
  console.log(`  while the peer received, its /healthz answered a probe after up to ${Math.max(...healthWaits).toFixed(0)} ms (the event loop busy with the receive)`);
  console.log(`  unchanged resync: ${s(second)} s${all(seconds.map((r) => r.ms))}; request body ${unchangedBody} bytes (goal: under 1 KB: ${met(unchangedBody < 1024)}), ${unchangedWire} bytes on the wire with the TLS handshake; the peer's store files ${receiverWrites} (goal: nothing written: ${met(receiverWrites === 'unchanged')})`);
  console.log(`  peak RSS: the sending mdmops sync ${Math.max(...firsts.map((r) => r.peakRssMiB)).toFixed(0)} MiB, the peer's mdmops serve ${Math.max(...receiverRss).toFixed(0)} MiB, the floor's apply ${Math.max(...applies.map((r) => r.peakRssMiB)).toFixed(0)} MiB`);
  console.log(`The bench took ${((Date.now() - benchStart) / 1000).toFixed(0)} s end to end.`);
} finally {
  serve?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

function s(ms: number): string {
  return (ms / 1000).toFixed(2);
}
function all(runs: number[]): string {
  return runs.length > 1 ? ` (runs: ${runs.map(s).join(', ')} s)` : '';
}
function met(ok: boolean): string {
  return ok ? 'met' : 'MISSED';
}
function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(0)} KiB`;
}
