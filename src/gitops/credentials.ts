// Credentials for a private repository, by secret ref: an HTTPS token (username and password) or
// an SSH key, read like every other secret (a secrets folder or the environment). They reach git
// through its environment only: GIT_ASKPASS answers the password from a variable of git's own
// process, GIT_SSH_COMMAND names a key file. Never in a URL, an argument, a config file or a log.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretResolver } from '../config/secrets.js';

export interface GitCredentials {
  username?: string;
  /** The token, for HTTPS. */
  password?: string;
  /** A private key, for SSH. */
  identity?: string;
  /** known_hosts lines for the server, for SSH; without them, ssh's own files are used. */
  knownHosts?: string;
}

/** Keys of the secret, named as Flux names them. */
export const CREDENTIAL_KEYS = { username: 'username', password: 'password', identity: 'identity', knownHosts: 'known_hosts' } as const;

/** GitHub's name for a token's user; other servers take any name with a token. */
export const DEFAULT_USERNAME = 'x-access-token';

export async function readGitCredentials(secrets: SecretResolver, name: string): Promise<GitCredentials> {
  const get = (key: string) => secrets.resolve('default', { name, key });
  const creds: GitCredentials = {
    username: await get(CREDENTIAL_KEYS.username),
    password: await get(CREDENTIAL_KEYS.password),
    identity: await get(CREDENTIAL_KEYS.identity),
    knownHosts: await get(CREDENTIAL_KEYS.knownHosts),
  };
  if (creds.password === undefined && creds.identity === undefined) {
    throw new Error(
      `the git secret "${name}" has neither a password (an HTTPS token: ${secrets.where('default', { name, key: 'password' })}) nor an identity (an SSH private key: ${secrets.where('default', { name, key: 'identity' })})`,
    );
  }
  return creds;
}

// Git asks "Username for 'https://host': " then "Password for 'https://user@host': ".
const ASKPASS = `#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$MDMOPS_GIT_USERNAME" ;;
  *) printf '%s\\n' "$MDMOPS_GIT_PASSWORD" ;;
esac
`;

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** The ssh command git runs: this key only, and the host checked against known_hosts. */
export function sshCommand(identityFile: string, knownHostsFile?: string): string {
  const parts = ['ssh', '-i', quote(identityFile), '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];
  if (knownHostsFile) parts.push('-o', quote(`UserKnownHostsFile=${knownHostsFile}`));
  return parts.join(' ');
}

/**
 * The environment that gives git these credentials. Files it needs (the askpass script, the key)
 * go in `dir`, for the owner only; remove it with the returned function.
 */
export function credentialEnv(creds: GitCredentials | undefined, dir: string): { env: Record<string, string>; remove(): void } {
  const env: Record<string, string> = {};
  const remove = () => rmSync(dir, { recursive: true, force: true });
  if (!creds) return { env, remove };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (creds.password !== undefined) {
    const askpass = join(dir, 'askpass.sh');
    writeFileSync(askpass, ASKPASS, { mode: 0o700 });
    Object.assign(env, { GIT_ASKPASS: askpass, MDMOPS_GIT_USERNAME: creds.username ?? DEFAULT_USERNAME, MDMOPS_GIT_PASSWORD: creds.password });
  }
  if (creds.identity !== undefined) {
    const identity = join(dir, 'identity');
    // ssh refuses a key readable by others, and one without its final newline.
    writeFileSync(identity, creds.identity.endsWith('\n') ? creds.identity : `${creds.identity}\n`, { mode: 0o600 });
    let knownHosts: string | undefined;
    if (creds.knownHosts !== undefined) writeFileSync((knownHosts = join(dir, 'known_hosts')), `${creds.knownHosts}\n`, { mode: 0o600 });
    env.GIT_SSH_COMMAND = sshCommand(identity, knownHosts);
  }
  return { env, remove };
}

/**
 * A URL with credentials in it is refused: the token belongs in a secret. Over HTTP(S) any user
 * part is one (https://TOKEN@host/ is how many hosts take a token); an ssh:// URL may name its
 * user, which is no secret (git@). Says why, without echoing it.
 */
export function urlProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // scp-like (git@host:org/repo.git) or a path
  }
  const shown = `--git ${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  if (parsed.password) return `${shown}: the URL holds a password; put the token in a secret and name it with --git-secret`;
  if (parsed.username && parsed.protocol !== 'ssh:') return `${shown}: the URL holds a user part, which may be a token; put the token (and the user name) in a secret and name it with --git-secret`;
  return undefined;
}

/** A URL as messages, logs and the status API show it: without a user part, whatever it holds. */
export function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url; // scp-like or a path: git@ names the ssh user, nothing secret
  }
}
