// Revisions from a folder watched for edits (chokidar). Each revision is a snapshot of the folder,
// named by a digest of its content: validation and apply read the snapshot, so an edit made while
// they run waits for the next round, and the last good snapshot stays in force while the folder is
// broken. Edits are debounced: a round starts once the folder has been quiet for a moment.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Checkout, Look, RevisionInfo, RevisionSource } from './source.js';

export interface FolderSourceOptions {
  /** The folder, as the user named it (messages say so). */
  folder: string;
  workdir: string;
  debounceMs: number;
}

/** Copies the folder's visible files into dest and returns a digest of their names and contents. */
export function snapshot(from: string, dest: string): string {
  const hash = createHash('sha256');
  const copy = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.')) continue; // .git, .mdmops, editors' files: not configuration
      const path = join(dir, name);
      let stat;
      try {
        stat = statSync(path); // follows links: the folder's own links are the user's
      } catch {
        continue; // removed meanwhile, or a broken link
      }
      const target = join(dest, relative(from, path));
      if (stat.isDirectory()) {
        mkdirSync(target, { recursive: true });
        copy(path);
      } else if (stat.isFile()) {
        // What is hashed is what is copied, even if the file changes meanwhile.
        let bytes;
        try {
          bytes = readFileSync(path);
        } catch {
          continue; // removed meanwhile: the watcher sees it and another round follows
        }
        writeFileSync(target, bytes);
        hash.update(`${relative(from, path)}\0${createHash('sha256').update(bytes).digest('hex')}\n`);
      }
    }
  };
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  copy(from);
  return `sha256:${hash.digest('hex').slice(0, 12)}`;
}

export class FolderSource implements RevisionSource {
  readonly mode = 'watch';
  onChange?: (why: string) => void;
  private watcher?: FSWatcher;
  private dirty = true;
  private head?: RevisionInfo;
  private timer?: NodeJS.Timeout;

  constructor(private readonly opts: FolderSourceOptions) {}

  describe() {
    return { folder: this.opts.folder, debounce: `${this.opts.debounceMs}ms` };
  }

  /**
   * Starts watching: every edit (hidden files aside) restarts the quiet period. The folder is watched
   * from its parent, so that one deleted and made again (rm -rf dir; cp -r new dir, as editors and
   * deploy tools do) is still followed.
   */
  async start(): Promise<void> {
    const root = resolve(this.opts.folder);
    const parent = dirname(root);
    this.watcher = watch(parent, {
      ignoreInitial: true,
      ignored: (path: string) => {
        if (path === parent || path === root) return false;
        const inside = relative(root, path);
        return inside.startsWith('..') || isAbsolute(inside) || inside.split(/[\\/]/).some((part) => part.startsWith('.'));
      },
    });
    this.watcher.on('all', () => {
      this.dirty = true;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.onChange?.('change'), this.opts.debounceMs);
    });
    await new Promise<void>((ready) => this.watcher!.once('ready', () => ready()));
  }

  async look(): Promise<Look> {
    if (!this.dirty && this.head) return { head: this.head, problems: [], resolved: [] };
    const root = resolve(this.opts.folder);
    if (!existsSync(root) || !statSync(root).isDirectory()) {
      return { problems: [{ reason: 'FolderNotFound', severity: 'Error', message: `${this.opts.folder} is not a folder (deleted?)` }], resolved: [] };
    }
    // Cleared before reading: an edit made while copying marks it dirty again for the next round.
    this.dirty = false;
    const partial = join(this.snapshots(), `.partial-${process.pid}`);
    rmSync(partial, { recursive: true, force: true });
    const revision = snapshot(root, partial);
    const dest = join(this.snapshots(), name(revision));
    if (existsSync(dest)) rmSync(partial, { recursive: true, force: true });
    else renameSync(partial, dest);
    this.head = { revision };
    return { head: this.head, problems: [], resolved: ['FolderNotFound'] };
  }

  async checkout(rev: RevisionInfo): Promise<Checkout> {
    const dir = join(this.snapshots(), name(rev.revision));
    if (!existsSync(dir)) throw new Error(`the snapshot of ${rev.revision} is gone from ${this.snapshots()}`);
    return { dir, shownAs: this.opts.folder };
  }

  async follows(): Promise<boolean> {
    return true; // a folder has no history to rewrite
  }

  prune(keep: string[]): void {
    const dir = this.snapshots();
    if (!existsSync(dir)) return;
    const kept = new Set(keep.map(name));
    for (const entry of readdirSync(dir)) if (!kept.has(entry) && !entry.startsWith('.partial')) rmSync(join(dir, entry), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.watcher?.close();
  }

  private snapshots(): string {
    return join(this.opts.workdir, 'snapshots');
  }
}

/** A digest as a folder name. */
const name = (revision: string) => basename(revision.replace(/^sha256:/, 'sha256-'));
