// Benchmark: 2,000 identity certificates issued through the CertificateConfiguration provider (plan
// and apply, as `mdmops apply` does, into a SQLite store), ECDSA P-256 then RSA-2048, against a floor
// measured in the same run: the same number of key generations and signatures with node's crypto
// alone. Each is measured BENCH_RUNS times in turn (default 3 for ECDSA, 1 for RSA) and the best
// counts: the machine may be shared. Prints certificates per second, ratios, CPU time and peak RSS.
import { createECDH, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { validatePaths } from '../src/config/validate.js';
import { applyPlan } from '../src/engine/apply.js';
import type { Engine } from '../src/engine/context.js';
import { desiredOf, type Desired } from '../src/config/desired.js';
import { limiter } from '../src/util/limit.js';
import { makePlan } from '../src/engine/plan.js';
import { StandaloneSecrets } from '../src/config/secrets.js';
import { makeKey } from '../src/pki/keys.js';
import { defaultProviders } from '../src/providers/index.js';
import { MasterKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';

const USERS = Number(process.env.BENCH_USERS ?? 2000);
const IN_FLIGHT = 16; // enough to keep the thread pool busy

const doc = (kind: string, name: string, spec: string) => `apiVersion: mdmops.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;

interface Timed {
  ms: number;
  cpuMs: number;
}

/** Wall and CPU time (all threads) of one run. */
async function timed(run: () => Promise<unknown>): Promise<Timed> {
  global.gc?.();
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await run();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000 };
}

const best = <T extends Timed>(runs: T[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));

/**
 * The ways of the floor: a key pair and a signature by the CA key per certificate, nothing else.
 * On the thread pool, as many in flight at once (generateKeyPair); for EC, the key made on the main
 * thread as raw numbers (ECDH, as the provider does) and signed on the pool, or signed on the main
 * thread too (sync, as the provider does).
 */
function floorWays(algorithm: string, caKey: KeyObject): Record<string, () => Promise<unknown>> {
  const tbs = randomBytes(450); // about the size of an identity certificate's TBSCertificate
  const signed = () => new Promise<void>((resolve, reject) => sign('sha256', tbs, caKey, (e) => (e ? reject(e) : resolve())));
  const many = (one: () => Promise<void>) => () => {
    const run = limiter(IN_FLIGHT);
    return Promise.all(Array.from({ length: USERS }, () => run(one)));
  };
  const ecdh = createECDH('prime256v1');
  const ways: Record<string, () => Promise<unknown>> = {
    generateKeyPair: many(
      () =>
        new Promise<void>((resolve, reject) => {
          const done = (err: Error | null) => (err ? reject(err) : resolve(signed()));
          if (algorithm === 'RSA-2048') generateKeyPair('rsa', { modulusLength: 2048 }, done);
          else generateKeyPair('ec', { namedCurve: 'P-256' }, done);
        }),
    ),
  };
  if (algorithm === 'RSA-2048') return ways;
  return {
    ...ways,
    ECDH: many(() => (ecdh.generateKeys(), ecdh.getPrivateKey(), signed())),
    sync: async () => {
      for (let i = 0; i < USERS; i++) ecdh.generateKeys(), ecdh.getPrivateKey(), sign('sha256', tbs, caKey);
    },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-issue-'));
try {
  const config = join(dir, 'config');
  mkdirSync(config);
  const engine: Engine = { store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'tenant.db')}`)), key: new MasterKey(randomBytes(32)), providers: defaultProviders() };
  const secrets = new StandaloneSecrets(join(dir, 'secrets'));
  const write = (algorithm: string) =>
    writeFileSync(
      join(config, 'pki.yaml'),
      doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Bench Root }\nkeyAlgorithm: ECDSA-P256') +
        doc('CertificateConfiguration', 'wifi', `identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=\${userUPN},O=Bench\n  subjectAltNames: [{ type: Email, value: "\${userEmailAddress}" }]\n  keyAlgorithm: ${algorithm}\ndistribution: { devices: AllDevices }`),
    );
  /** Validates, plans and applies; gives the milliseconds until the plan was made. */
  const apply = async () => {
    const start = process.hrtime.bigint();
    const result = validatePaths([config]);
    if (result.diagnostics.length) throw new Error(JSON.stringify(result.diagnostics[0]));
    const desired: Desired[] = [];
    for (const v of result.resources) desired.push(await desiredOf(v, result.content, secrets, engine.key));
    const plan = await makePlan(engine, desired, { source: 'bench', revision: 'r' });
    const planned = Number(process.hrtime.bigint() - start) / 1e6;
    const applied = await applyPlan(engine, plan, { actor: 'bench', secrets });
    if (applied.results.some((r) => r.state === 'failed')) throw new Error(applied.results.find((r) => r.state === 'failed')!.message);
    return planned;
  };

  write('ECDSA-P256');
  await apply(); // the CA, and a configuration that reaches nobody yet
  await engine.store.commit(
    Array.from({ length: USERS }, (_, i) => ({
      op: 'putUser' as const,
      user: { tenant: 'default', id: `u${i}`, source: 'EntraIdSource/bench', upn: `user${i}@bench.example`, email: `user${i}@bench.example`, groups: [], attributes: {}, labels: {} },
    })),
  );
  const caKey = await makeKey('ECDSA-P256');

  console.log(`identity certificates: ${USERS} users, Local CA (ECDSA P-256), SQLite store, ${availableParallelism()} cores, thread pool ${process.env.UV_THREADPOOL_SIZE ?? 4}`);
  for (const algorithm of (process.env.BENCH_ALGORITHMS ?? 'ECDSA-P256,RSA-2048').split(',')) {
    const runs = Number(process.env.BENCH_RUNS ?? (algorithm.startsWith('RSA') ? 1 : 3));
    const ways = floorWays(algorithm, caKey);
    const floors = new Map(Object.keys(ways).map((how) => [how, [] as Timed[]]));
    const provider: (Timed & { planMs: number })[] = [];
    write(algorithm);
    for (let r = 0; r < runs; r++) {
      for (const [how, way] of Object.entries(ways)) floors.get(how)!.push(await timed(way));
      // Each run issues every certificate: those of the run before are taken out first.
      await engine.store.commit([{ op: 'deleteCertificates', tenant: 'default', configuration: 'wifi' }]);
      let planMs = 0;
      provider.push({ ...(await timed(async () => (planMs = await apply()))), planMs });
      const held = await engine.store.listCertificates({ tenant: 'default', configuration: 'wifi' });
      if (held.length !== USERS) throw new Error(`expected ${USERS} certificates, found ${held.length}`);
    }
    const floor = [...floors].map(([how, t]) => ({ how, ...best(t) })).reduce((a, b) => (b.ms < a.ms ? b : a));
    const ours = best(provider);
    const fmt = (t: Timed) => `${t.ms.toFixed(0)} ms (CPU ${t.cpuMs.toFixed(0)} ms)`;
    console.log(`  ${algorithm}, best of ${runs}:`);
    console.log(`    floor, key pair + signature with node crypto: ${[...floors].map(([how, t]) => `${how} ${fmt(best(t))}`).join(', ')}`);
    console.log(`    through the provider: ${fmt(ours)}, of which validation and plan ${ours.planMs.toFixed(0)} ms = ${((USERS * 1000) / ours.ms).toFixed(0)} certificates/s`);
    console.log(`    ${(ours.ms / floor.ms).toFixed(2)}x the floor (${floor.how}; goal: 1.3x); CPU ${(ours.cpuMs / floor.cpuMs).toFixed(2)}x the floor's`);
  }
  await engine.store.close();
  console.log(`  peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
