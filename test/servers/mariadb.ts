// A real, private MariaDB server on loopback for tests: a fresh data dir in a temp dir, gone after stop().
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { freePort } from './ports.js';
import type { NetNs } from './netns.js';
import { asSystemUser, spawnServer, stopServer, systemUser, type ServerProcess } from './process.js';

export interface MariadbServer {
  /** mysql://root:PASSWORD@127.0.0.1:PORT/app */
  url: string;
  port: number;
  /** Its Unix socket; root needs the password there too. */
  socket: string;
  /** The tail of its log. */
  log(): string;
  /** Shuts it down cleanly and removes its data dir. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash: for tests that lose the database mid-run. */
  kill(): void;
  /** Starts it again on the same data dir and port (after kill()); resolves once it answers queries. */
  restart(): Promise<void>;
}

const DATABASE = 'app';
const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;

/** Debian puts the server in /usr/sbin, which a non-root PATH may lack. */
function serverBinary(): string {
  return existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : 'mariadbd';
}

/**
 * In `netns` (a customer network), it listens on that namespace's loopback, out of reach but through
 * a connector's agent; the test still reaches it over its Unix socket (sockets cross namespaces).
 */
export async function startMariadb(options: { netns?: NetNs } = {}): Promise<MariadbServer> {
  const { uid, gid } = systemUser('mysql');
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-mariadb-'));
  chownSync(dir, uid, gid);
  const socket = join(dir, 'sock');
  const logFile = join(dir, 'mariadbd.log');
  // A smaller redo log than the default 96 MiB: every test server writes one.
  const innodbLog = '--innodb-log-file-size=16M';

  try {
    // No config files (--no-defaults): nothing of the machine's own MariaDB, if it has one, leaks in.
    // cwd: the mysql user cannot enter a root-owned working directory.
    await promisify(execFile)(...asSystemUser('mysql', 'mariadb-install-db', ['--no-defaults', `--datadir=${dir}`, '--auth-root-authentication-method=normal', '--skip-test-db', innodbLog]), { cwd: dir });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(`mariadb-install-db failed: ${err.stderr || err.message} (run scripts/ensure-deps.sh --for-tests)`);
  }

  const port = await freePort();
  const [mysqlCommand, mysqlArgs] = asSystemUser('mysql', serverBinary(), [
    '--no-defaults', `--datadir=${dir}`, `--socket=${socket}`, `--port=${port}`, `--pid-file=${join(dir, 'mariadbd.pid')}`,
    '--bind-address=127.0.0.1', '--skip-name-resolve',
    // What Debian's packaged config sets; the compiled-in default is latin1.
    '--character-set-server=utf8mb4', '--collation-server=utf8mb4_general_ci',
    // Durability a throwaway server can do without: the redo log is written at each commit but
    // flushed to disk once a second, which survives a crash of the server (kill()) though not of the
    // machine. Not 0: that writes the log once a second too, and kill() then loses commits.
    '--innodb-flush-log-at-trx-commit=2', '--skip-log-bin', innodbLog,
    // Small, as many test files may each run one at once.
    '--innodb-buffer-pool-size=32M',
  ]);
  const [command, args] = options.netns ? options.netns.wrap(mysqlCommand, mysqlArgs) : [mysqlCommand, mysqlArgs];
  const where: mysql.ConnectionOptions = options.netns ? { socketPath: socket } : { host: '127.0.0.1', port };

  // Its log to a file in the data dir; SIGKILL if the test process exits first (the dir goes anyway).
  let server: ServerProcess = spawnServer(command, args, dir, 'SIGKILL', logFile);
  let stopped = false;
  let killed = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await stopServer(server, STOP_GRACE_MS); // SIGTERM: a clean shutdown
    rmSync(dir, { recursive: true, force: true });
  };

  /** Ready when a real query goes through; returns that query's answer. */
  const ready = async (options: mysql.ConnectionOptions): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      let connection: mysql.Connection | undefined;
      try {
        connection = await mysql.createConnection({ ...where, user: 'root', connectTimeout: 2_000, ...options });
        const [rows] = await connection.query<mysql.RowDataPacket[]>('SELECT @@sql_mode AS sql_mode, VERSION() AS version');
        await connection.end();
        return rows[0]!;
      } catch (e) {
        connection?.destroy();
        if (!server.running() || Date.now() > deadline) {
          const { child } = server;
          const why = server.running() ? `did not answer a query within ${START_TIMEOUT_MS / 1000} s` : `exited with code ${child.exitCode ?? child.signalCode}`;
          const log = server.log();
          await stop();
          throw new Error(`mariadbd on port ${port} ${why} (last error: ${(e as Error).message})\n${log}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  // Then, as root without a password (as mariadb-install-db leaves it): strict mode must be
  // on, as it is by default; every root account gets a password, so the url carries credentials like a
  // real one; and the database the tests use.
  const password = randomBytes(12).toString('hex');
  const { sql_mode: sqlMode } = await ready({});
  const setup = await mysql.createConnection({ ...where, user: 'root' });
  try {
    if (!String(sqlMode).split(',').includes('STRICT_TRANS_TABLES')) throw new Error(`mariadbd is not in strict mode: sql_mode=${String(sqlMode)}`);
    // mariadb-install-db also makes root@<this machine's name>, which --skip-name-resolve ignores (and ALTER USER refuses).
    const [roots] = await setup.query<mysql.RowDataPacket[]>("SELECT Host AS host FROM mysql.user WHERE User = 'root' AND Host IN ('localhost', '127.0.0.1', '::1')");
    for (const { host } of roots) await setup.query('ALTER USER ?@? IDENTIFIED BY ?', ['root', host, password]);
    await setup.query(`CREATE DATABASE ${mysql.escapeId(DATABASE)}`);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    setup.destroy();
  }
  const url = `mysql://root:${password}@127.0.0.1:${port}/${DATABASE}`;

  return {
    url,
    port,
    socket,
    log: () => server.log(),
    stop,
    kill: () => {
      killed = true;
      server.child.kill('SIGKILL');
    },
    restart: async () => {
      if (stopped) throw new Error('mariadbd was stopped: its data dir is gone');
      if (!killed && server.running()) throw new Error('mariadbd is running: kill() it first');
      await server.exited; // the port and the data dir's locks are free only once it is gone
      killed = false;
      server.release();
      server = spawnServer(command, args, dir, 'SIGKILL', logFile);
      await ready({ password, database: DATABASE });
    },
  };
}
