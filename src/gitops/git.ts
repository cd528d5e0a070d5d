// Git through simple-git: the run mode's cache of a remote repository (a bare repository fetched
// each round), and any local repository `mdmops diff` reads revisions from. A revision's files are
// written out from git's objects into a folder of their own, never into a working tree.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import { simpleGit, type SimpleGit } from 'simple-git';
import { messageOf } from '../util/message-of.js';

export interface Commit {
  sha: string;
  subject: string;
  /** "Name <email>" */
  author: string;
  /** Commit date, ISO 8601. */
  date: string;
}

export class GitError extends Error {}

/** Variables we set ourselves; simple-git refuses any other GIT_* variable. */
const OUR_ENV = ['GIT_ASKPASS', 'GIT_SSH_COMMAND', 'GIT_TERMINAL_PROMPT', 'GIT_INDEX_FILE'];

/**
 * Git's own complaint: its last "fatal:" or "error:" line, with the line before it, where ssh or the
 * server says why (Host key verification failed, Permission denied).
 */
export function gitMessage(e: unknown): string {
  const lines = String(messageOf(e) ?? e).split('\n').map((l) => l.trim()).filter(Boolean);
  let last = -1;
  lines.forEach((l, i) => { if (/^(fatal|error):/.test(l)) last = i; });
  const said = last < 0 ? lines.slice(0, 1) : lines.slice(Math.max(0, last - 1), last + 1).filter((l, i, all) => i === all.length - 1 || /^[\w"'(]/.test(l));
  const text = said.map((l) => l.replace(/^(fatal|error):\s*/, '').replace(/\.$/, '')).join(': ') || 'git failed';
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

/**
 * A path inside a repository, as git names it ('' for the top), or an error for one that climbs
 * out of it or is absolute.
 */
export function repoPath(path: string): string {
  const p = posix.normalize(path.replace(/\\/g, '/')).replace(/\/+$/, '');
  if (posix.isAbsolute(p) || p === '..' || p.startsWith('../')) throw new GitError(`${path}: give a folder inside the repository, relative to its top`);
  return p === '.' ? '' : p;
}

export class Repo {
  private constructor(
    readonly dir: string,
    /** Credentials and the like for the git processes (never in their arguments). */
    private readonly env: Record<string, string>,
  ) {}

  /** A local repository (bare or not) as it is. */
  static async open(dir: string): Promise<Repo> {
    const repo = new Repo(dir, {});
    try {
      await repo.git().raw(['rev-parse', '--git-dir']);
    } catch (e) {
      throw new GitError(`${dir} is not a git repository: ${gitMessage(e)}`);
    }
    return repo;
  }

  /** The cache of a remote: a bare repository in `dir`, made on first use, fetching from `url`. */
  static async cache(dir: string, url: string, env: Record<string, string>): Promise<Repo> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const repo = new Repo(dir, env);
    const git = repo.git();
    if (!existsSync(join(dir, 'HEAD'))) await git.raw(['init', '--bare', '--quiet']);
    const remotes = (await git.raw(['remote'])).split('\n');
    // The URL holds no credential (refused before): keeping it in the config is safe.
    await git.raw(remotes.includes('origin') ? ['remote', 'set-url', 'origin', url] : ['remote', 'add', 'origin', url]);
    return repo;
  }

  private git(extra: Record<string, string> = {}): SimpleGit {
    // Ambient variables that point git elsewhere (a hook's GIT_DIR) or make it run a program of the
    // user's (EDITOR, PAGER, SSH_ASKPASS) are not passed on; simple-git would refuse them anyway.
    const ambient = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(GIT_.*|EDITOR|VISUAL|PAGER|PREFIX|SSH_ASKPASS)$/i.test(k)));
    return simpleGit({
      baseDir: this.dir,
      timeout: { block: 120_000 },
      allowEnvironment: OUR_ENV,
      // Every argument is ours (revisions are checked, paths made here), so these checks only get in the way.
      unsafe: { allowUnsafeAskPass: true, allowUnsafeSshCommand: true, allowUnsafeCredentialHelper: true, allowUnsafeConfigPaths: true },
      // No credential helper of the user's: it could store our token, or answer with another one.
      config: ['credential.helper='],
    }).env({ ...ambient, GIT_TERMINAL_PROMPT: '0', ...this.env, ...extra });
  }

  /**
   * Fetches one branch into refs/remotes/origin/BRANCH. Returns its head, or missing when the remote
   * has no such branch (never had it, or it was deleted).
   */
  async fetch(branch: string): Promise<{ head: string } | { missing: true }> {
    const ref = `refs/remotes/origin/${branch}`;
    try {
      await this.git().raw(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', 'origin', `+refs/heads/${branch}:${ref}`]);
    } catch (e) {
      if (/couldn't find remote ref/i.test(String(messageOf(e)))) return { missing: true };
      throw new GitError(gitMessage(e));
    }
    return { head: (await this.git().raw(['rev-parse', '--verify', ref])).trim() };
  }

  /** The commit a revision (SHA, branch, tag, HEAD~1...) names. */
  async resolve(rev: string): Promise<string> {
    if (rev.startsWith('-')) throw new GitError(`${rev}: not a revision`);
    // With --quiet git says nothing about an unknown revision, and simple-git then does not throw.
    const sha = await this.git().raw(['rev-parse', '--verify', '--quiet', '--end-of-options', `${rev}^{commit}`]).catch(() => '');
    if (!/^[0-9a-f]{40,64}$/.test(sha.trim())) throw new GitError(`${rev}: no such revision in ${this.dir}`);
    return sha.trim();
  }

  async commit(sha: string): Promise<Commit> {
    const out = await this.git().raw(['log', '-1', '--format=%H%x00%s%x00%an <%ae>%x00%cI', sha, '--']);
    const [full, subject, author, date] = out.trim().split('\0');
    return { sha: full!, subject: subject ?? '', author: author ?? '', date: date ?? '' };
  }

  async has(sha: string): Promise<boolean> {
    try {
      await this.git().raw(['cat-file', '-e', `${sha}^{commit}`]);
      return true;
    } catch {
      return false; // cat-file -e fails exactly when the object is absent
    }
  }

  /** Whether `descendant` has `ancestor` in its history (false for unrelated histories). */
  async descends(descendant: string, ancestor: string): Promise<boolean> {
    if (descendant === ancestor) return true;
    try {
      return (await this.git().raw(['merge-base', ancestor, descendant])).trim() === ancestor;
    } catch {
      return false; // no common ancestor
    }
  }

  /**
   * Writes the folder `path` of commit `sha` into `dest` (made empty first), from git's objects.
   * Symbolic links are written as plain files holding the link's target, so a commit cannot make
   * mdmops read files outside the revision.
   */
  async checkout(sha: string, path: string, dest: string): Promise<'ok' | 'missing' | 'not-a-folder'> {
    const spec = `${sha}:${path}`;
    let type: string;
    try {
      type = (await this.git().raw(['cat-file', '-t', spec])).trim();
    } catch {
      return 'missing'; // cat-file -t fails exactly when the path is not in that commit
    }
    if (type !== 'tree') return 'not-a-folder';
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true, mode: 0o700 });
    const index = `${dest}.index`;
    try {
      const git = this.git({ GIT_INDEX_FILE: index });
      await git.raw(['read-tree', spec]);
      await git.raw(['-c', 'core.bare=false', '-c', 'core.symlinks=false', `--work-tree=${dest}`, 'checkout-index', '--all', '--force']);
    } finally {
      rmSync(index, { force: true });
    }
    return 'ok';
  }
}
