// Where the run mode finds revisions of the configuration: a git branch, or a folder watched for
// edits. The runner asks for the newest revision, and for the files of one it has seen.
import type { Severity } from '../store/types.js';

export interface RevisionInfo {
  /** A commit SHA, or a content digest (sha256:...). */
  revision: string;
  /** A commit's subject line. */
  subject?: string;
  /** A commit's author, "Name <email>". */
  author?: string;
}

/** A revision's files, written where the runner can read them. */
export interface Checkout {
  dir: string;
  /** How `dir` is named in messages (the folder in the repository, or the folder watched). */
  shownAs: string;
}

/** Something an administrator should know about the source; raised as a notification. */
export interface SourceProblem {
  reason: string;
  severity: Severity;
  message: string;
}

export interface Look {
  /** The newest revision, when it could be had. */
  head?: RevisionInfo;
  /** Conditions found now, and the reasons of conditions that are over. */
  problems: SourceProblem[];
  resolved: string[];
}

export interface RevisionSource {
  readonly mode: 'git' | 'watch';
  /** For the status API: where revisions come from. */
  describe(): Record<string, unknown>;
  /** Fetches, or reads the folder. */
  look(): Promise<Look>;
  /** The files of a revision seen before; throws when they can no longer be had. */
  checkout(rev: RevisionInfo): Promise<Checkout>;
  /** Whether `next` continues the history that led to `previous` (false: history was rewritten). */
  follows(previous: string, next: string): Promise<boolean>;
  /** Keeps the files of these revisions only. */
  prune(keep: string[]): void;
  /** Called when the source sees a change (a watched edit) that deserves a round now. */
  onChange?: (why: string) => void;
  close(): Promise<void>;
}
