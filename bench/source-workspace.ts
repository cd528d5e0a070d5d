// What the benchmarks of sources share: a workspace with its configuration applied (a SQLite store,
// a master key, a secrets folder), and a sync measured in a process of its own (sync-child.ts).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validatePaths } from '../src/config/validate.js';
import { applyPlan } from '../src/engine/apply.js';
import type { Engine } from '../src/engine/context.js';
import { desiredOf, type Desired } from '../src/config/desired.js';
import { makePlan } from '../src/engine/plan.js';
import { StandaloneSecrets } from '../src/config/secrets.js';
import { defaultProviders } from '../src/providers/index.js';
import { MasterKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';

export const doc = (kind: string, name: string, spec: string) => `apiVersion: mdmops.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;

export async function workspace(dir: string, config: string) {
  mkdirSync(join(dir, 'config'), { recursive: true });
  writeFileSync(join(dir, 'config', 'source.yaml'), config);
  const key = randomBytes(32);
  writeFileSync(join(dir, 'master.key'), key.toString('base64'), { mode: 0o600 });
  const engine: Engine = { store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'tenant.db')}`)), key: new MasterKey(key), providers: defaultProviders() };
  const secrets = new StandaloneSecrets(join(dir, 'secrets'));
  const apply = async () => {
    const result = validatePaths([join(dir, 'config')]);
    if (result.diagnostics.length) throw new Error(JSON.stringify(result.diagnostics[0]));
    const desired: Desired[] = [];
    for (const v of result.resources) desired.push(await desiredOf(v, result.content, secrets, engine.key));
    await applyPlan(engine, await makePlan(engine, desired, { source: 'bench', revision: 'r' }), { actor: 'bench', secrets });
  };
  await apply();
  return { engine, apply };
}

export interface Measured {
  ms: number;
  peakRssMiB: number;
}

/**
 * Each sync runs in a process of its own (sync-child.ts, which loads what `mdmops sync` loads and
 * none of the test servers), as `mdmops sync` runs: its peak RSS is that sync's alone.
 */
export const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'sync-child.js');
export function syncInChild(dir: string, kind: string, name: string, round: 'first' | 'next', env: NodeJS.ProcessEnv = {}): Measured {
  const out = execFileSync(process.execPath, [...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE] : []), CHILD, 'sync', dir, kind, name, round], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out) as Measured;
}

