// OpenSSH's sshd for tests: git over SSH to repositories on this machine, as the current user, with
// a key the test makes (key authentication only), on a loopback port.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';
import { spawnServer } from './process.js';

const SSHD = '/usr/sbin/sshd';

export interface Sshd {
  port: number;
  user: string;
  /** The private key that may log in (OpenSSH format). */
  clientKey: string;
  /** known_hosts line for this server. */
  knownHosts: string;
  /** known_hosts line naming this server with another key: a server that is not the one expected. */
  wrongKnownHosts: string;
  stop(): Promise<void>;
}

const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'mdmops-test', '-f', file]);

export async function startSshd(): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-sshd-'));
  for (const k of ['host', 'client', 'other']) keygen(join(dir, k));
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')));
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      '',
    ].join('\n'),
  );
  // sshd wants its privilege separation folder when started as root.
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const server = spawnServer(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], dir, 'SIGTERM');
  await waitForPort('sshd', server, port);
  const hostKey = (name: string) => readFileSync(join(dir, `${name}.pub`), 'utf8').split(' ').slice(0, 2).join(' ');
  return {
    port,
    user: userInfo().username,
    clientKey: readFileSync(join(dir, 'client'), 'utf8'),
    knownHosts: `[127.0.0.1]:${port} ${hostKey('host')}`,
    wrongKnownHosts: `[127.0.0.1]:${port} ${hostKey('other')}`,
    async stop() {
      server.release();
      server.child.kill('SIGTERM');
      await server.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
