// Opening the tenant store named by --store (or MDMOPS_STORE): sqlite:PATH, postgres://..., or the default.
import { dirname, resolve } from 'node:path';
import { redactUrl } from './redact-url.js';
import { migrate, SqlStore } from './sql-store.js';
import { sqliteDriver } from './sqlite.js';
import type { Store } from './types.js';

export const STATE_DIR = '.mdmops';

export class StoreSpecError extends Error {}

export type StoreSpec = { backend: 'sqlite'; path: string } | { backend: 'postgres'; url: string };

export function parseStoreSpec(spec: string | undefined, cwd = process.cwd()): StoreSpec {
  if (!spec) return { backend: 'sqlite', path: resolve(cwd, STATE_DIR, 'tenant.db') };
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (!path) throw new StoreSpecError('--store sqlite: needs a path, e.g. sqlite:state/tenant.db');
    return { backend: 'sqlite', path: resolve(cwd, path) };
  }
  if (/^postgres(ql)?:\/\//.test(spec)) return { backend: 'postgres', url: spec };
  throw new StoreSpecError(`--store ${/^\w+:\/\//.test(spec) ? redactUrl(spec) : spec}: expected sqlite:PATH or postgres://user@host/db`);
}

/**
 * The folder of a store's companions (its master key file, standalone secrets) when none is named:
 * the SQLite file's own folder, so that --store sqlite:/srv/t.db keeps them in /srv; .mdmops/
 * beside a PostgreSQL store.
 */
export function stateDirOf(spec: StoreSpec, cwd = process.cwd()): string {
  return spec.backend === 'sqlite' ? dirname(spec.path) : resolve(cwd, STATE_DIR);
}

export async function openStore(spec: StoreSpec): Promise<Store> {
  // PostgreSQL's client is loaded only for a PostgreSQL store.
  const driver = spec.backend === 'sqlite' ? sqliteDriver(spec.path) : (await import('./postgres.js')).postgresDriver(spec.url);
  try {
    await migrate(driver);
  } catch (e) {
    await driver.close().catch(() => undefined); // the migration's error is the one to report
    throw e;
  }
  return new SqlStore(driver);
}
