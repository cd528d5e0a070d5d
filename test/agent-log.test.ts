// The connector agent's own log: kocab.log, its daily rotation, log collection into a zip, and the
// log level's one-hour elevation. The clock is the test's: no real midnight is waited for.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { effectiveLogLevel, pinoLevel } from '../src/api/log-level.js';
import { collectLogs, openAgentLog } from '../src/connector/agent-log.js';

const root = mkdtempSync(join(tmpdir(), 'mdmops-agent-log-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
const freshDir = () => join(root, `case-${++count}`);

/** A clock the test sets. */
function clock(iso: string) {
  let t = new Date(iso);
  return { now: () => t, set: (next: string) => void (t = new Date(next)) };
}

const lines = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `{"msg":"${prefix} ${i}"}\n`);
const gunzipped = (path: string) => gunzipSync(readFileSync(path)).toString('utf8');
const mode = (path: string) => statSync(path).mode & 0o777;

describe('kocab.log', () => {
  it('takes the lines in order, in a 0700 folder and a 0600 file', async () => {
    const dir = freshDir();
    const log = openAgentLog(dir, { now: clock('2025-03-01T10:00:00Z').now });
    const written = lines('line', 2000);
    for (const line of written) log.write(line);
    await log.flush();
    expect(readFileSync(join(dir, 'kocab.log'), 'utf8')).toBe(written.join(''));
    expect(mode(dir)).toBe(0o700);
    expect(mode(join(dir, 'kocab.log'))).toBe(0o600);
    await log.close();
    expect(() => log.write('late\n')).toThrow(/closed/);
  });

  it('is a pino destination', async () => {
    const dir = freshDir();
    const log = openAgentLog(dir);
    pino({ base: undefined }, log).info({ resource: 'Connector/paris' }, 'connected');
    await log.close();
    expect(JSON.parse(readFileSync(join(dir, 'kocab.log'), 'utf8'))).toMatchObject({ level: 30, msg: 'connected', resource: 'Connector/paris' });
  });

  it('rotates at midnight UTC into kocab.<day>.0.log.gz, keeping every line written meanwhile in order', async () => {
    const dir = freshDir();
    const time = clock('2025-03-01T23:59:58Z');
    const log = openAgentLog(dir, { now: time.now });
    const before = lines('before', 500);
    for (const line of before) log.write(line);
    time.set('2025-03-02T00:00:01Z');
    // Not flushed before: these arrive while the rotation is closing and renaming the file.
    const after = lines('after', 500);
    for (const line of after) log.write(line);
    await log.flush();
    expect(readdirSync(dir).sort()).toEqual(['kocab.2025-03-01.0.log.gz', 'kocab.log']);
    expect(gunzipped(join(dir, 'kocab.2025-03-01.0.log.gz'))).toBe(before.join(''));
    expect(mode(join(dir, 'kocab.2025-03-01.0.log.gz'))).toBe(0o600);
    expect(readFileSync(join(dir, 'kocab.log'), 'utf8')).toBe(after.join(''));
    await log.close();
  });

  it('a second rotation to the same day takes the next number', async () => {
    const dir = freshDir();
    const time = clock('2025-03-01T12:00:00Z');
    const log = openAgentLog(dir, { now: time.now });
    log.write('first\n');
    time.set('2025-03-02T00:00:00Z');
    log.write('second\n');
    // The clock set back a day and forward again: the lines of 2025-03-01 rotate a second time.
    time.set('2025-03-01T23:59:59Z');
    log.write('third\n');
    time.set('2025-03-02T00:00:02Z');
    log.write('fourth\n');
    await log.close();
    expect(readdirSync(dir).sort()).toEqual(['kocab.2025-03-01.0.log.gz', 'kocab.2025-03-01.1.log.gz', 'kocab.2025-03-02.0.log.gz', 'kocab.log']);
    expect(gunzipped(join(dir, 'kocab.2025-03-01.0.log.gz'))).toBe('first\n');
    expect(gunzipped(join(dir, 'kocab.2025-03-02.0.log.gz'))).toBe('second\n');
    expect(gunzipped(join(dir, 'kocab.2025-03-01.1.log.gz'))).toBe('third\n');
    expect(readFileSync(join(dir, 'kocab.log'), 'utf8')).toBe('fourth\n');
  });

  it('on open, rotates a kocab.log left from an earlier day, and appends to one of today', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'kocab.2025-02-27.0.log.gz'), 'an earlier rotation');
    writeFileSync(join(dir, 'kocab.log'), 'old\n');
    utimesSync(join(dir, 'kocab.log'), new Date('2025-02-27T18:00:00Z'), new Date('2025-02-27T18:00:00Z'));
    const log = openAgentLog(dir, { now: clock('2025-03-01T08:00:00Z').now });
    log.write('new\n');
    await log.close();
    expect(gunzipped(join(dir, 'kocab.2025-02-27.1.log.gz'))).toBe('old\n');
    expect(readFileSync(join(dir, 'kocab.2025-02-27.0.log.gz'), 'utf8')).toBe('an earlier rotation');
    expect(readFileSync(join(dir, 'kocab.log'), 'utf8')).toBe('new\n');

    utimesSync(join(dir, 'kocab.log'), new Date('2025-03-01T08:00:00Z'), new Date('2025-03-01T08:00:00Z'));
    const again = openAgentLog(dir, { now: clock('2025-03-01T09:00:00Z').now });
    again.write('newer\n');
    await again.close();
    expect(readFileSync(join(dir, 'kocab.log'), 'utf8')).toBe('new\nnewer\n');
    expect(readdirSync(dir).filter((n) => n.endsWith('.gz'))).toHaveLength(2);
  });

  it('on open, gzips a rotated file that a stop left uncompressed', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'kocab.2025-02-28.0.log'), 'renamed, not yet gzipped\n');
    const log = openAgentLog(dir, { now: clock('2025-03-01T08:00:00Z').now });
    await log.close();
    expect(readdirSync(dir).sort()).toEqual(['kocab.2025-02-28.0.log.gz', 'kocab.log']);
    expect(gunzipped(join(dir, 'kocab.2025-02-28.0.log.gz'))).toBe('renamed, not yet gzipped\n');
  });
});

describe('collectLogs', () => {
  const unzipList = (zip: string) =>
    execFileSync('unzip', ['-Z1', zip], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .sort();
  const unzipped = (zip: string, name: string) => execFileSync('unzip', ['-p', zip, name]);

  it('zips every log file into <hostname>_<version>_<timestamp>.zip, replacing the earlier zip', async () => {
    const logDir = freshDir();
    const outDir = freshDir();
    const time = clock('2025-03-01T23:00:00Z');
    const log = openAgentLog(logDir, { now: time.now });
    for (const line of lines('monday', 100)) log.write(line);
    time.set('2025-03-02T01:00:00Z');
    for (const line of lines('tuesday', 100)) log.write(line);
    await log.flush();
    mkdirSync(join(logDir, 'sub'));
    writeFileSync(join(logDir, 'sub', 'nested.log'), 'not collected');
    writeFileSync(join(logDir, 'old_1.0_20250101-000000.zip'), 'a zip in the log folder');
    mkdirSync(outDir);
    writeFileSync(join(outDir, 'PARIS-DC01_4.1.0_20250228-120000.zip'), 'the previous request');
    writeFileSync(join(outDir, 'notes.txt'), 'not ours');

    const zip = await collectLogs({ logDir, outDir, hostname: 'PARIS DC01/east', version: '4.2.0+build7', now: new Date('2025-03-02T10:30:05.123Z') });
    expect(zip).toBe(join(outDir, 'PARIS-DC01-east_4.2.0-build7_20250302-103005.zip'));
    expect(readdirSync(outDir).sort()).toEqual(['PARIS-DC01-east_4.2.0-build7_20250302-103005.zip', 'notes.txt']);
    expect(mode(zip)).toBe(0o600);
    expect(unzipList(zip)).toEqual(['kocab.2025-03-01.0.log.gz', 'kocab.log']);
    expect(unzipped(zip, 'kocab.log').toString('utf8')).toBe(lines('tuesday', 100).join(''));
    expect(unzipped(zip, 'kocab.2025-03-01.0.log.gz')).toEqual(readFileSync(join(logDir, 'kocab.2025-03-01.0.log.gz')));
    await log.close();
  });

  it('aborted before it starts, makes nothing', async () => {
    const logDir = freshDir();
    const outDir = freshDir();
    const log = openAgentLog(logDir);
    log.write('a line\n');
    await log.close();
    const controller = new AbortController();
    controller.abort();
    await expect(collectLogs({ logDir, outDir, hostname: 'h', version: '1', signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(existsSync(outDir) ? readdirSync(outDir) : []).toEqual([]);
  });

  it('aborted mid-way, stops and leaves no zip', async () => {
    const logDir = freshDir();
    const outDir = freshDir();
    mkdirSync(logDir);
    // Incompressible and large enough that the zip is still being written when the test aborts.
    for (let i = 0; i < 6; i++) writeFileSync(join(logDir, `kocab.2025-02-${10 + i}.0.log.gz`), randomBytes(4 << 20));
    const controller = new AbortController();
    let settled = false;
    const collecting = collectLogs({ logDir, outDir, hostname: 'h', version: '1', signal: controller.signal }).finally(() => (settled = true));
    // Abort once the partial zip has bytes in it.
    const partial = () => (existsSync(outDir) ? readdirSync(outDir).find((n) => n.endsWith('.zip.partial')) : undefined);
    for (;;) {
      const name = partial();
      if (name && statSync(join(outDir, name)).size > 0) break;
      if (settled) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(settled).toBe(false);
    controller.abort();
    await expect(collecting).rejects.toMatchObject({ name: 'AbortError' });
    expect(readdirSync(outDir)).toEqual([]);
    // The log files are untouched, and a later request works.
    expect(readdirSync(logDir)).toHaveLength(6);
    const zip = await collectLogs({ logDir, outDir, hostname: 'h', version: '1' });
    expect(unzipList(zip)).toHaveLength(6);
  });
});

describe('effectiveLogLevel', () => {
  const t = '2025-03-01T10:00:00.000Z';
  const at = (iso: string) => new Date(iso);

  it('Info (or no level) has no revert', () => {
    expect(effectiveLogLevel('Info', t, at('2025-03-01T10:30:00Z'))).toEqual({ level: 'Info' });
    expect(effectiveLogLevel(undefined, undefined, at(t))).toEqual({ level: 'Info' });
  });

  it('another level set at t lasts until t + 1h, then it is Info', () => {
    expect(effectiveLogLevel('Debug', t, at('2025-03-01T10:59:59Z'))).toEqual({ level: 'Debug', revertsAt: '2025-03-01T11:00:00.000Z' });
    expect(effectiveLogLevel('Trace', t, at(t))).toEqual({ level: 'Trace', revertsAt: '2025-03-01T11:00:00.000Z' });
    expect(effectiveLogLevel('Debug', t, at('2025-03-01T11:00:00Z'))).toEqual({ level: 'Info' });
    expect(effectiveLogLevel('Error', t, at('2025-03-02T09:00:00Z'))).toEqual({ level: 'Info' });
  });

  it('without since, the level is in force with no revert time; with a since that is no time, it is Info', () => {
    expect(effectiveLogLevel('Warn', undefined, at(t))).toEqual({ level: 'Warn' });
    expect(effectiveLogLevel('Debug', 'yesterday', at(t))).toEqual({ level: 'Info' });
  });

  it('maps to pino level names', () => {
    expect((['Error', 'Warn', 'Info', 'Debug', 'Trace'] as const).map(pinoLevel)).toEqual(['error', 'warn', 'info', 'debug', 'trace']);
  });
});
