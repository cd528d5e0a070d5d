// A real, private PostgreSQL server on loopback for tests: a fresh cluster in a temp dir, gone after stop().
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.js';
import { asSystemUser, spawnServer, systemUser } from './process.js';

export interface PostgresServer {
  url: string;
  stop(): Promise<void>;
}

const ROOT = '/usr/lib/postgresql';
const USER = 'mdmops';
const START_TIMEOUT_MS = 30_000;

/** Debian installs each major version side by side; take the newest one with a server. */
function binDir(): string {
  const versions = existsSync(ROOT) ? readdirSync(ROOT).filter((v) => existsSync(join(ROOT, v, 'bin/initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no PostgreSQL server found in ${ROOT}/<version>/bin: run scripts/ensure-deps.sh`);
  return join(ROOT, versions[0], 'bin');
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = binDir();
  const { uid, gid } = systemUser('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-pg-'));
  chownSync(dir, uid, gid);

  try {
    // cwd: the postgres user cannot enter a root-owned working directory.
    await promisify(execFile)(...asSystemUser('postgres', join(bin, 'initdb'), ['-D', dir, '-A', 'trust', '-U', USER, '-E', 'UTF8', '--locale=C', '--no-sync']), { cwd: dir });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as { stderr?: string; message: string };
    throw new Error(`initdb failed: ${err.stderr || err.message}`);
  }

  const port = await freePort();
  const [command, args] = asSystemUser('postgres', join(bin, 'postgres'), [
    '-D', dir, '-k', dir, '-p', String(port),
    '-c', 'listen_addresses=127.0.0.1',
    // Durability buys nothing for a throwaway cluster.
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
  ]);
  // Immediate shutdown (SIGQUIT) if the test process exits first.
  const server = spawnServer(command, args, dir, 'SIGQUIT');
  const { child, exited } = server;

  const stop = async () => {
    server.release();
    if (server.running()) {
      child.kill('SIGINT'); // fast shutdown: disconnect clients, no waiting for them
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when a real query goes through; then create the database the tests use.
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: USER, database: 'postgres' });
    try {
      await client.connect();
      await client.query(`create database ${USER}`);
      await client.end();
      break;
    } catch (e) {
      await client.end().catch(() => {});
      if (!server.running() || Date.now() > deadline) {
        await stop();
        const why = server.running() ? `did not accept connections within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${child.exitCode ?? child.signalCode}`;
        throw new Error(`postgres on port ${port} ${why} (last error: ${(e as Error).message})\n${server.log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return { url: `postgres://${USER}@127.0.0.1:${port}/${USER}`, stop };
}
