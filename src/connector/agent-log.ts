// The connector agent's own log (seed 000): kocab.log in its log folder, rotated at midnight UTC
// into kocab.YYYY-MM-DD.N.log.gz, and on request every file of that folder collected into
// <hostname>_<version>_<timestamp>.zip.
import { createReadStream, createWriteStream, mkdirSync, readdirSync, statSync, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { messageOf } from '../util/message-of.js';

export interface AgentLog {
  /** One line as pino writes it (JSON and a newline). Throws once the log is closed. */
  write(line: string): void;
  /** Resolves when every line written so far is in its file and every rotated file is gzipped. */
  flush(): Promise<void>;
  /** Flushes, then closes kocab.log. */
  close(): Promise<void>;
}

const LOG = 'kocab.log';
/** A rotated file not yet gzipped (gzip runs after the rename, off the path of write()). */
const ROTATED = /^kocab\.\d{4}-\d{2}-\d{2}\.\d+\.log$/;

const utcDay = (t: Date) => t.toISOString().slice(0, 10);

/**
 * kocab.log in dir (made 0700 if missing; the file 0600), as a pino destination. The first line
 * of a new UTC day (by `now`) first moves the earlier lines to kocab.<their day>.N.log.gz, N the
 * first number free for that day. A kocab.log left from an earlier day (by its mtime) is rotated
 * at once. Lines written while a rotation renames the file wait in memory, in order.
 * Errors of the file (disk full, a failed rotation) go to onError (default: stderr): no line is
 * dropped for a failed rotation, kocab.log just keeps the new day's lines too.
 */
export function openAgentLog(dir: string, options: { now?: () => Date; onError?: (error: Error) => void } = {}): AgentLog {
  const now = options.now ?? (() => new Date());
  const report = options.onError ?? ((e: Error) => void process.stderr.write(`${LOG}: ${e.message}\n`));
  const path = join(dir, LOG);
  mkdirSync(dir, { recursive: true, mode: 0o700 });

  // Gzips run one at a time, in the order of the rotations.
  let compressing = Promise.resolve();
  const compress = (name: string) => {
    compressing = compressing.then(() => gzip(join(dir, name))).catch((e: unknown) => report(new Error(`compressing ${name}: ${messageOf(e)}`)));
  };
  // Rotated files that a stop left uncompressed; listed before any rotation of this run adds one.
  for (const name of readdirSync(dir)) if (ROTATED.test(name)) compress(name);

  const openStream = () => createWriteStream(path, { flags: 'a', mode: 0o600 }).on('error', report);
  /** The UTC day of the lines in kocab.log; undefined while it has none. */
  let day = linesDay(path);
  let stream = openStream();
  let closed = false;
  /** The rotation under way, if any; meanwhile lines (and any further rotation) wait in held. */
  let rotation: Promise<void> | undefined;
  const held: (string | { rotate: string })[] = [];

  async function moveAside(oldDay: string): Promise<void> {
    try {
      const names = new Set(await readdir(dir));
      let n = 0;
      while (names.has(`kocab.${oldDay}.${n}.log`) || names.has(`kocab.${oldDay}.${n}.log.gz`)) n++;
      const name = `kocab.${oldDay}.${n}.log`;
      await rename(path, join(dir, name));
      compress(name);
    } catch (e) {
      report(new Error(`rotating ${LOG}: ${messageOf(e)}`)); // kocab.log stays, and takes the new lines too
    }
  }

  function rotate(oldDay: string): void {
    if (rotation) {
      held.push({ rotate: oldDay });
      return;
    }
    rotation = (async () => {
      let next: string | undefined = oldDay;
      while (next !== undefined) {
        // Closed before the rename: every earlier line is in the file that moves.
        await ended(stream);
        await moveAside(next);
        stream = openStream();
        next = undefined;
        let i = 0;
        while (i < held.length && next === undefined) {
          const item = held[i++]!;
          if (typeof item === 'string') stream.write(item);
          else next = item.rotate;
        }
        held.splice(0, i);
      }
      rotation = undefined;
    })();
  }

  if (day !== undefined && day !== utcDay(now())) {
    rotate(day);
    day = undefined;
  }

  return {
    write(line) {
      if (closed) throw new Error(`${LOG} is closed`);
      const today = utcDay(now());
      if (day !== today) {
        if (day !== undefined) rotate(day);
        day = today;
      }
      if (rotation) {
        held.push(line);
        return;
      }
      if (stream.destroyed) stream = openStream(); // a write failed (reported): try the file again
      stream.write(line);
    },
    async flush() {
      while (rotation) await rotation;
      await written(stream);
      await compressing;
    },
    async close() {
      closed = true;
      while (rotation) await rotation;
      await ended(stream);
      await compressing;
    },
  };
}

/** The UTC day of kocab.log's lines (its mtime), or undefined when it is empty or missing. */
function linesDay(path: string): string | undefined {
  try {
    const stats = statSync(path);
    return stats.size > 0 ? utcDay(stats.mtime) : undefined;
  } catch {
    return undefined; // missing: a new file; unreadable: opening it reports why
  }
}

/** Resolves once the lines given to s so far are written (or s has failed, which is reported). */
function written(s: WriteStream): Promise<void> {
  if (s.destroyed || s.writableEnded) return Promise.resolve();
  return new Promise((resolve) => s.write('', () => resolve()));
}

/** Ends s and resolves when its file is closed. */
function ended(s: WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (s.closed) return resolve();
    s.once('close', () => resolve());
    if (!s.destroyed) s.end();
  });
}

/** file to file.gz; the .gz appears whole (renamed from .partial), and only then is file removed. */
async function gzip(file: string): Promise<void> {
  const partial = `${file}.gz.partial`;
  await pipeline(createReadStream(file), createGzip(), createWriteStream(partial, { mode: 0o600 }));
  await rename(partial, `${file}.gz`);
  await unlink(file);
}

/** The zips collectLogs makes (and their partial files): a new request removes them. */
const COLLECTED = /_\d{8}-\d{6}\.zip(\.partial)?$/;

/** A hostname or version as a safe part of a file name. */
const safe = (text: string) =>
  text
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[.-]+/, '')
    .slice(0, 64) || 'unknown';

/** <hostname>_<version>_<YYYYMMDD-HHmmss UTC>.zip */
function collectedZipName(hostname: string, version: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').slice(0, 15).replace('T', '-');
  return `${safe(hostname)}_${safe(version)}_${stamp}.zip`;
}

const cancelled = () => new DOMException('log collection was cancelled', 'AbortError');

/**
 * Every file of logDir (kocab.log and the rotated files; not zips, not subfolders) streamed into
 * outDir/<hostname>_<version>_<timestamp>.zip, written under a .partial name and renamed when
 * whole; resolves to its path. A new collection first removes the earlier zips of outDir (seed
 * 000: a new request replaces the previous zip, even one then cancelled). When signal aborts, the
 * partial file is removed and the promise rejects with an AbortError.
 */
export async function collectLogs(input: { logDir: string; outDir: string; hostname: string; version: string; now?: Date; signal?: AbortSignal }): Promise<string> {
  const { logDir, outDir, signal } = input;
  if (signal?.aborted) throw cancelled();
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  for (const name of await readdir(outDir)) if (COLLECTED.test(name)) await rm(join(outDir, name), { force: true });
  const target = join(outDir, collectedZipName(input.hostname, input.version, input.now ?? new Date()));
  const partial = `${target}.partial`;
  const names = (await readdir(logDir, { withFileTypes: true }))
    .filter((e) => e.isFile() && !/\.(zip|partial)$/.test(e.name))
    .map((e) => e.name)
    .sort();

  const files: { name: string; handle: FileHandle; stream?: Readable }[] = [];
  let stopped = false;
  try {
    // All opened before zipping starts: a file that a rotation renames or gzips meanwhile is
    // still read as it was listed.
    for (const name of names) {
      try {
        files.push({ name, handle: await open(join(logDir, name)) });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // gone since listed (a gzip finished): left out
      }
    }
    const { ZipFile } = await import('yazl'); // only an agent asked for its logs zips them
    const zip = new ZipFile();
    const out = zip.outputStream as Readable; // a PassThrough
    zip.on('error', (e: Error) => out.destroy(e));
    for (const file of files) {
      const { size, mtime, mode } = await file.handle.stat();
      if (size === 0) {
        zip.addBuffer(Buffer.alloc(0), file.name, { mtime, mode });
        continue;
      }
      // Read up to its size now: kocab.log may grow meanwhile, and yazl checks the size it is told.
      zip.addReadStreamLazy(file.name, { mtime, mode, size }, (give) => {
        if (stopped) return; // the zip is abandoned: open nothing more
        const stream = file.handle.createReadStream({ start: 0, end: size - 1 });
        stream.on('error', (e) => out.destroy(e));
        file.stream = stream;
        give(null, stream);
      });
    }
    zip.end();
    const handle = await open(partial, 'w', 0o600);
    await pipeline(out, handle.createWriteStream(), { signal });
    await rename(partial, target);
    return target;
  } catch (e) {
    await rm(partial, { force: true });
    throw signal?.aborted ? cancelled() : e;
  } finally {
    stopped = true;
    // A stream closes its file as it ends or is destroyed; the others are closed here.
    for (const file of files) {
      if (file.stream) file.stream.destroy();
      else await file.handle.close();
    }
  }
}
