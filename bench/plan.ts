// Benchmark: plan and no-op apply of the corpus (10,000 resources, bench/corpus.ts) on a SQLite
// tenant store, against the validation floor measured in the same run. Prints times, ratios, the
// store writes of the no-op apply (goal: none) and peak RSS.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validatePaths } from '../src/config/validate.js';
import { applyPlan } from '../src/engine/apply.js';
import type { Engine } from '../src/engine/context.js';
import { desiredOf, type Desired } from '../src/config/desired.js';
import { makePlan } from '../src/engine/plan.js';
import { StandaloneSecrets } from '../src/config/secrets.js';
import { defaultProviders } from '../src/providers/index.js';
import { MasterKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { floor, generate, median, validators } from './corpus.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-plan-'));
try {
  const config = join(dir, 'config');
  mkdirSync(config);
  // Quick keys: the benchmark is about planning, not key generation.
  const count = generate(config, 'ECDSA-P256');
  const engine: Engine = { store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'tenant.db')}`)), key: new MasterKey(randomBytes(32)), providers: defaultProviders() };
  const secrets = new StandaloneSecrets(join(dir, 'secrets'));
  const options = { source: 'bench', revision: 'r1' };

  /** Validate everything, read files and secrets: the validation (its YAML trees) is let go before planning, as readInput lets it go. */
  const desiredAll = async () => {
    const result = validatePaths([config]);
    if (result.diagnostics.length) throw new Error(`the corpus is invalid: ${JSON.stringify(result.diagnostics[0])}`);
    const desired: Desired[] = [];
    for (const v of result.resources) desired.push(await desiredOf(v, result.content, secrets, engine.key));
    return desired;
  };
  /** What `mdmops plan -f` does: validate, then observe and diff. */
  const plan = async () => makePlan(engine, await desiredAll(), options);
  const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
    const start = process.hrtime.bigint();
    const value = await fn();
    return [Number(process.hrtime.bigint() - start) / 1e6, value];
  };

  // Each step keeps only its time and what is checked of it: no plan or apply result outlives its round.
  const [firstMs] = await timed(async () => {
    const first = await applyPlan(engine, await plan(), { actor: 'bench', secrets });
    if (first.results.length !== count || first.results.some((r) => r.state === 'failed')) throw new Error('the first apply did not apply everything');
  });

  const checks = validators();
  const floorTimes: number[] = [];
  const planTimes: number[] = [];
  const noopTimes: number[] = [];
  let writes = -1;
  for (let round = 0; round < ROUNDS; round++) {
    global.gc?.();
    const start = process.hrtime.bigint();
    floor(config, checks);
    floorTimes.push(Number(process.hrtime.bigint() - start) / 1e6);
    global.gc?.();
    const [planMs, noOp] = await timed(async () => (await plan()).changes.every((c) => c.action === 'no-op'));
    if (!noOp) throw new Error('the second plan is not a no-op');
    planTimes.push(planMs);
    global.gc?.();
    const [noopMs, applyWrites] = await timed(async () => (await applyPlan(engine, await plan(), { actor: 'bench', secrets })).writes);
    noopTimes.push(noopMs);
    writes = Math.max(writes, applyWrites);
  }
  await engine.store.close();

  const f = median(floorTimes);
  const p = median(planTimes);
  const n = median(noopTimes);
  console.log(`plan and apply: ${count} resources of 9 kinds in ${count / 10} files, 100 tenants, SQLite store, median of ${ROUNDS} rounds`);
  console.log(`  floor (yaml parse + precompiled ajv, as bench/validate): ${f.toFixed(0)} ms`);
  console.log(`  first apply (creates ${count}, makes ${count / 10} CA keys): ${firstMs.toFixed(0)} ms`);
  console.log(`  plan, nothing to do: ${p.toFixed(0)} ms = ${(p / f).toFixed(2)}x the floor`);
  console.log(`  no-op apply: ${n.toFixed(0)} ms = ${(n / f).toFixed(2)}x the floor (goal: under 2x)`);
  console.log(`  store writes in the no-op apply: ${writes} (goal: 0)`);
  console.log(`  peak RSS: ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
