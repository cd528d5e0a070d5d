// Benchmark: 2,000 identity certificates issued through the CertificateConfiguration provider (plan
// and apply, as `mdmops apply` does, into a SQLite store), ECDSA P-256 then RSA-2048, against a floor
// measured in the same run: the same number of key generations and signatures with node's crypto
// alone, as many in flight at once. Prints certificates per second, ratios and peak RSS.
import { createECDH, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { validatePaths } from '../src/config/validate.js';
import { applyPlan } from '../src/engine/apply.js';
import type { Engine } from '../src/engine/context.js';
import { desiredOf, type Desired } from '../src/engine/desired.js';
import { limiter } from '../src/engine/limit.js';
import { makePlan } from '../src/engine/plan.js';
import { StandaloneSecrets } from '../src/engine/secrets.js';
import { makeKey } from '../src/pki/keys.js';
import { defaultProviders } from '../src/providers/index.js';
import { MasterKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';

const USERS = Number(process.env.BENCH_USERS ?? 2000);
const IN_FLIGHT = 16; // as the provider: enough to keep the thread pool busy

const doc = (kind: string, name: string, spec: string) => `apiVersion: mdmops.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;

/**
 * The floor: a key pair and a signature by the CA key per certificate, nothing else, as many in
 * flight at once. Two ways of making the key, and the faster counts: on the thread pool
 * (generateKeyPair), or for EC on the main thread as raw numbers (ECDH, as the provider does).
 */
async function floor(algorithm: string, caKey: KeyObject): Promise<{ ms: number; how: string; all: string }> {
  const tbs = randomBytes(450); // about the size of an identity certificate's TBSCertificate
  const signed = () => new Promise<void>((resolve, reject) => sign('sha256', tbs, caKey, (e) => (e ? reject(e) : resolve())));
  const ecdh = createECDH('prime256v1');
  const ways: Record<string, () => Promise<void>> = {
    generateKeyPair: () =>
      new Promise<void>((resolve, reject) => {
        const done = (err: Error | null) => (err ? reject(err) : resolve(signed()));
        if (algorithm === 'RSA-2048') generateKeyPair('rsa', { modulusLength: 2048 }, done);
        else generateKeyPair('ec', { namedCurve: 'P-256' }, done);
      }),
    ...(algorithm === 'RSA-2048' ? {} : { ECDH: () => (ecdh.generateKeys(), ecdh.getPrivateKey(), signed()) }),
  };
  let best = { ms: Infinity, how: '' };
  const all: string[] = [];
  for (const [how, one] of Object.entries(ways)) {
    global.gc?.();
    const run = limiter(IN_FLIGHT);
    const start = process.hrtime.bigint();
    await Promise.all(Array.from({ length: USERS }, () => run(one)));
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    all.push(`${how} ${ms.toFixed(0)} ms`);
    if (ms < best.ms) best = { ms, how };
  }
  return { ...best, all: all.join(', ') };
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
    const { ms: floorMs, all } = await floor(algorithm, caKey);
    write(algorithm);
    global.gc?.();
    const start = process.hrtime.bigint();
    const planMs = await apply(); // issues (or, for RSA, issues again) one certificate per user
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const held = await engine.store.listCertificates({ tenant: 'default', configuration: 'wifi' });
    if (held.length !== USERS) throw new Error(`expected ${USERS} certificates, found ${held.length}`);
    console.log(`  ${algorithm}: floor (key pair + signature, node crypto: ${all}) ${floorMs.toFixed(0)} ms; through the provider ${ms.toFixed(0)} ms (validation and plan ${planMs.toFixed(0)} ms) = ${((USERS * 1000) / ms).toFixed(0)} certificates/s, ${(ms / floorMs).toFixed(2)}x the floor (goal: 1.3x)`);
  }
  await engine.store.close();
  console.log(`  peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
