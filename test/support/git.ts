// Real git repositories for tests: a bare "origin" and a clone to commit and push from.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GIT_AUTHOR_NAME: 'Alice Admin', GIT_AUTHOR_EMAIL: 'alice@contoso.com', GIT_COMMITTER_NAME: 'Alice Admin', GIT_COMMITTER_EMAIL: 'alice@contoso.com' },
  }).trim();
}

export interface Repos {
  /** The bare repository mdmops fetches from. */
  origin: string;
  /** A clone to commit in. */
  clone: string;
  /** Writes files (path -> text; null removes) in the clone, commits everything, returns the SHA. */
  commit(message: string, files: Record<string, string | null>): string;
  push(branch: string, force?: boolean): void;
}

/** A bare origin in `dir`/origin.git (default branch main) and a clone of it in `dir`/clone. */
export function makeRepos(dir: string): Repos {
  const origin = join(dir, 'origin.git');
  const clone = join(dir, 'clone');
  mkdirSync(origin, { recursive: true });
  git(origin, 'init', '--quiet', '--bare', '--initial-branch=main');
  mkdirSync(clone, { recursive: true });
  git(clone, 'init', '--quiet', '--initial-branch=main');
  git(clone, 'remote', 'add', 'origin', origin);
  return {
    origin,
    clone,
    commit(message, files) {
      for (const [path, text] of Object.entries(files)) {
        const full = join(clone, path);
        if (text === null) rmSync(full, { force: true });
        else {
          mkdirSync(dirname(full), { recursive: true });
          writeFileSync(full, text);
        }
      }
      git(clone, 'add', '--all');
      git(clone, 'commit', '--quiet', '--allow-empty', '-m', message);
      return git(clone, 'rev-parse', 'HEAD');
    },
    push(branch, force = false) {
      git(clone, 'push', '--quiet', ...(force ? ['--force'] : []), 'origin', `HEAD:refs/heads/${branch}`);
    },
  };
}
