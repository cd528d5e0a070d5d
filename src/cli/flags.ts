// Values of command-line flags that several commands share.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { OutboundPolicy } from '../net/outbound.js';
import { parseDuration } from '../api/duration.js';
import { UserError } from './errors.js';
import { messageOf } from '../util/message-of.js';

/** -o FORMAT: the output format, the one meaning -o has in every command. The first format is the default. */
export function formatOption(formats: readonly string[], aliases: Record<string, string> = {}): Option {
  return new Option('-o, --output <format>', `output format: ${formats.join(', ')}`).default(formats[0]).argParser((value: string) => {
    const format = aliases[value] ?? value;
    if (!formats.includes(format)) throw new InvalidArgumentError(`expected ${formats.join(', ')}`);
    return format;
  });
}

/** The output formats -o names anywhere: any other value is taken, for one release, as the path -o used to mean. */
export const FORMAT_NAMES = ['text', 'json', 'yaml', 'markdown', 'table'];

/** The old form of a flag, kept working for one release: said on standard error, never on the output a script reads. */
export function warnDeprecated(old: string, instead: string) {
  process.stderr.write(`mdmops: warning: ${old} is deprecated and will be removed in the next release; use ${instead}\n`);
}

/** --format, the old name of -o in the listing commands: hidden, still accepted. */
export const oldFormatOption = () => new Option('--format <format>').hideHelp();

/** -o as given, or --format (warned about) when that was used. */
export function formatOf(opts: { output: string; format?: string }, formats: readonly string[], aliases: Record<string, string> = {}): string {
  if (opts.format === undefined) return opts.output;
  warnDeprecated('--format', '-o');
  const format = aliases[opts.format] ?? opts.format;
  if (!formats.includes(format)) throw new UserError(`--format ${opts.format}: expected ${formats.join(', ')}`);
  return format;
}

/** A count flag (--concurrency, --limit): a whole number of at least 1. */
export function wholeNumber(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} ${text}: expected a whole number of at least 1`);
  return n;
}

/** A duration flag (500ms, 30s, 1m, 1h) of at least minMs. */
export function duration(flag: string, text: string, minMs: number): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    throw new UserError(`${flag} ${text}: expected a duration such as 500ms, 30s, 1m or 1h`);
  }
  if (ms < minMs) throw new UserError(`${flag} ${text}: at least ${minMs}ms`);
  return ms;
}

/** ":8080", "8080", "127.0.0.1:8080", "[::1]:8080". */
export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) throw new UserError(`${flag} ${text}: expected [HOST]:PORT, e.g. :8080 or 127.0.0.1:8080`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** A secret a long-running mode is given: a file's content (one trailing newline dropped), or an environment variable. */
/** The text of a file a flag names; a file that cannot be read is the user's to fix, named with its flag. */
export function flagFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`${flag} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(e)}`);
  }
}

export function secretFlag(flag: string, file: string | undefined, envName: string): string | undefined {
  if (file) return flagFile(flag, file).replace(/\r?\n$/, '');
  return process.env[envName] || undefined;
}

export interface OutboundFlags {
  allowInternalTargets?: boolean;
  internalRange: string[];
}

/** --allow-internal-targets and --internal-range CIDR (repeatable), for the modes tenants share. */
export function outboundOptions(cmd: Command): Command {
  return cmd
    .option('--allow-internal-targets', "let tenants' URLs reach loopback, link-local (169.254.169.254) and the --internal-range addresses")
    .addOption(new Option('--internal-range <cidr>', "another range tenants' URLs may not reach, e.g. the cluster's service CIDR; repeat for several").argParser((v: string, all: string[]) => [...all, v]).default([]));
}

export function outboundPolicy(flags: OutboundFlags): OutboundPolicy {
  for (const range of flags.internalRange) {
    const [net, bits] = range.split('/');
    const family = isIP(net ?? '');
    if (!family || !/^\d+$/.test(bits ?? '') || Number(bits) > (family === 6 ? 128 : 32)) throw new UserError(`--internal-range ${range}: expected an address range such as 10.96.0.0/12`);
  }
  return { allowInternal: !!flags.allowInternalTargets, internalRanges: flags.internalRange };
}
