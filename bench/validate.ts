// Benchmark: load and validate the corpus (bench/corpus.ts) against the floor measured in the same
// run. Prints times and the ratio to the floor.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validatePaths } from '../src/config/validate.js';
import { KINDS } from '../src/api/index.js';
import { floor, generate, median, PER_FILE, ROUNDS, TENANTS, time, validators } from './corpus.js';

const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-'));
try {
  const count = generate(dir);
  const checks = validators();

  // Both must accept everything, or the comparison means nothing.
  const ours = validatePaths([dir]);
  if (ours.diagnostics.length || ours.resources.length !== count) throw new Error(`mdmops refused the generated input: ${JSON.stringify(ours.diagnostics.slice(0, 3))}`);
  if (floor(dir, checks) !== count) throw new Error('the floor refused the generated input');

  const mdmopsTimes: number[] = [];
  const floorTimes: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    global.gc?.();
    floorTimes.push(time(() => floor(dir, checks)));
    global.gc?.();
    mdmopsTimes.push(time(() => validatePaths([dir])));
  }
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const kept = validatePaths([dir]);
  const heapMiB = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

  const m = median(mdmopsTimes);
  const f = median(floorTimes);
  console.log(`validate: ${count} resources of ${KINDS.length} kinds in ${count / PER_FILE} files, ${TENANTS} tenants, median of ${ROUNDS} rounds`);
  console.log(`  floor (yaml parse + precompiled ajv): ${f.toFixed(0)} ms`);
  console.log(`  mdmops validate (positions, references, tenant rules, files): ${m.toFixed(0)} ms`);
  console.log(`  ratio: ${(m / f).toFixed(2)}x the floor (goal: within 1.5x)`);
  console.log(`  heap held by the result: ${heapMiB.toFixed(0)} MiB for ${kept.resources.length} resources`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
