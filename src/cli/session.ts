// What the commands on a tenant store share: its options, and opening it with its master key.
import { Option, type Command } from 'commander';
import { userInfo } from 'node:os';
import { existsSync } from 'node:fs';
import { corruptStoreMessage, isCorruptStore } from '../store/corrupt.js';
import { join } from 'node:path';
import type { Engine } from '../engine/context.js';
import { StandaloneSecrets, type SecretResolver } from '../config/secrets.js';
import { defaultProviders } from '../providers/index.js';
import { localTunnels, tunnelSocketPath } from '../connector/local.js';
import { loadMasterKey, MasterKeyError } from '../store/master-key.js';
import { openStore, parseStoreSpec, STATE_DIR, stateDirOf, StoreSpecError } from '../store/open.js';
import { StoreVersionError } from '../store/sql-store.js';
import { UserError } from './errors.js';
import { messageOf } from '../util/message-of.js';

export interface StoreOptions {
  store?: string;
  masterKeyFile?: string;
  secretsDir?: string;
}

export function storeOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--store <spec>', `tenant store: sqlite:PATH or postgres://user@host/db (default: sqlite in ${STATE_DIR}/)`).env('MDMOPS_STORE'))
    .addOption(new Option('--master-key-file <path>', `file holding the master key (default: master.key beside a SQLite store, created on first use; or set MDMOPS_MASTER_KEY)`).env('MDMOPS_MASTER_KEY_FILE'))
    .addOption(new Option('--secrets-dir <dir>', 'folder of secrets laid out as <name>/<key>, and <tenant>/<name>/<key> for tenants other than default (default: secrets/ beside a SQLite store; or set MDMOPS_SECRET_<NAME>__<KEY>, MDMOPS_SECRET_<TENANT>__<NAME>__<KEY>)').env('MDMOPS_SECRETS_DIR'));
}

export interface Session extends Engine {
  secrets: SecretResolver;
  close(): Promise<void>;
}

/**
 * Opens the store named by the options, with its master key. A command that only reads (plan,
 * status, ...) passes readOnly: it never creates a store, a folder or a key.
 */
export async function openSession(opts: StoreOptions, how: { readOnly?: boolean } = {}): Promise<Session> {
  let spec;
  try {
    spec = parseStoreSpec(opts.store);
  } catch (e) {
    if (e instanceof StoreSpecError) throw new UserError(e.message);
    throw e;
  }
  const stateDir = stateDirOf(spec);
  if (how.readOnly && spec.backend === 'sqlite' && !existsSync(spec.path)) {
    throw new UserError(`there is no tenant store at ${spec.path}: mdmops apply -f DIR makes one there (or name another with --store)`);
  }
  let store;
  try {
    store = await openStore(spec);
  } catch (e) {
    if (e instanceof StoreVersionError) throw new UserError(e.message);
    const where = spec.backend === 'sqlite' ? spec.path : 'the PostgreSQL store';
    throw new UserError(`cannot open the tenant store at ${where}: ${isCorruptStore(e) ? corruptStoreMessage(e) : messageOf(e)}`);
  }
  const keyFile = join(stateDir, 'master.key');
  const known = await store.getMeta('master_key_id');
  let loaded;
  try {
    const byDefault = spec.backend === 'sqlite' && !opts.masterKeyFile && !process.env.MDMOPS_MASTER_KEY;
    // The store was made with a key that is gone: a new one could open nothing in it.
    if (known && byDefault && !existsSync(keyFile)) {
      throw new UserError(`the master key file ${keyFile} is missing, and this store was made with a key (id ${known}): restore the file from your backup, or give the key with MDMOPS_MASTER_KEY`);
    }
    loaded = loadMasterKey({
      env: process.env.MDMOPS_MASTER_KEY,
      file: opts.masterKeyFile ?? (how.readOnly && byDefault ? keyFile : undefined),
      // Only SQLite creates its own key, beside the store: replicas sharing PostgreSQL must be given one.
      createAt: byDefault && !how.readOnly ? keyFile : undefined,
    });
    if (known && known !== loaded.key.id) {
      throw new UserError(`the master key (id ${loaded.key.id}) is not the one this store was made with (id ${known}): give the store's key with MDMOPS_MASTER_KEY or --master-key-file`);
    }
  } catch (e) {
    await store.close();
    if (e instanceof MasterKeyError || (e as NodeJS.ErrnoException).code) throw new UserError(messageOf(e));
    throw e;
  }
  if (loaded.created) process.stderr.write(`mdmops: created a master key in ${loaded.created} (mode 0600). Back it up: without it the keys in the tenant store cannot be read.\n`);
  if (!known) await store.commit([{ op: 'setMeta', key: 'master_key_id', value: loaded.key.id }]);
  return {
    store,
    key: loaded.key,
    providers: defaultProviders(),
    secrets: new StandaloneSecrets(opts.secretsDir ?? join(stateDir, 'secrets')),
    // Connector agents are reached through the server running on this store (a long-running mode puts its own gateway here).
    tunnels: localTunnels(tunnelSocketPath(stateDir)),
    close: () => store.close(),
  };
}

export function actor(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown'; // a uid without a passwd entry (containers)
  }
}
