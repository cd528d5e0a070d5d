// Revisions from one branch of a git repository, fetched into a bare cache under the work folder.
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { shownUrl } from './credentials.js';
import { GitError, gitMessage, Repo } from './git.js';
import type { Checkout, Look, RevisionInfo, RevisionSource } from './source.js';

export interface GitSourceOptions {
  url: string;
  branch: string;
  /** Folder of the configuration inside the repository, as git names it ('' for the top). */
  path: string;
  /** Where the cache and the revisions' files live. */
  workdir: string;
  /** Credentials for git, by environment (see credentials.ts). */
  env: Record<string, string>;
}

export class GitSource implements RevisionSource {
  readonly mode = 'git';
  private repo?: Repo;

  constructor(private readonly opts: GitSourceOptions) {}

  describe() {
    return { repository: shownUrl(this.opts.url), branch: this.opts.branch, path: this.opts.path || '.' };
  }

  private async cache(): Promise<Repo> {
    this.repo ??= await Repo.cache(join(this.opts.workdir, 'repo.git'), this.opts.url, this.opts.env);
    return this.repo;
  }

  async look(): Promise<Look> {
    const { branch } = this.opts;
    const url = shownUrl(this.opts.url);
    let fetched;
    try {
      fetched = await (await this.cache()).fetch(branch);
    } catch (e) {
      return { problems: [{ reason: 'FetchFailed', severity: 'Error', message: `cannot fetch branch ${branch} of ${url}: ${e instanceof GitError ? e.message : gitMessage(e)}` }], resolved: [] };
    }
    if ('missing' in fetched) {
      return { problems: [{ reason: 'BranchNotFound', severity: 'Error', message: `branch ${branch} is not in ${url} (deleted, or never pushed)` }], resolved: ['FetchFailed'] };
    }
    const commit = await this.repo!.commit(fetched.head);
    return { head: { revision: commit.sha, subject: commit.subject, author: commit.author }, problems: [], resolved: ['FetchFailed', 'BranchNotFound'] };
  }

  async checkout(rev: RevisionInfo): Promise<Checkout> {
    const repo = await this.cache();
    const dest = join(this.revisions(), rev.revision);
    const shownAs = this.opts.path || '.';
    if (existsSync(dest)) return { dir: dest, shownAs };
    if (!(await repo.has(rev.revision))) throw new GitError(`commit ${rev.revision} is no longer in the repository`);
    // Written beside, then renamed: a folder under its final name is always complete.
    const partial = `${dest}.partial`;
    const done = await repo.checkout(rev.revision, this.opts.path, partial);
    // A commit without the folder is an invalid revision: validation says so, naming the folder.
    if (done !== 'ok') return { dir: dest, shownAs };
    renameSync(partial, dest);
    return { dir: dest, shownAs };
  }

  async follows(previous: string, next: string): Promise<boolean> {
    const repo = await this.cache();
    return (await repo.has(previous)) && (await repo.descends(next, previous));
  }

  prune(keep: string[]): void {
    const dir = this.revisions();
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) if (!keep.includes(name)) rmSync(join(dir, name), { recursive: true, force: true });
  }

  async close(): Promise<void> {}

  private revisions(): string {
    return join(this.opts.workdir, 'revisions');
  }
}
