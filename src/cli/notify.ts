// --notify-url and its companions, for the long-running modes.
import { Option, type Command } from 'commander';
import type { Logger } from '../observe/log.js';
import { Notifier, type NotifyFormat } from '../server/notify.js';
import type { Store } from '../store/types.js';
import { messageOf } from '../util/message-of.js';
import { UserError } from './errors.js';
import { secretFlag } from './flags.js';

export interface NotifyFlags {
  notifyUrl: string[];
  notifySecretFile?: string;
  notifyFormat: NotifyFormat;
  consoleUrl?: string;
}

export function notifyOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--notify-url <url>', 'POST each notification raised, raised again or resolved to this URL as JSON (repeatable)').argParser((v: string, all: string[] = []) => [...all, v]).default([]))
    .addOption(new Option('--notify-secret-file <file>', 'key of the HMAC-SHA256 signature (X-Mdmops-Signature: sha256=HEX of the body), or set MDMOPS_NOTIFY_SECRET'))
    .addOption(new Option('--notify-format <format>', 'json, or slack: a {"text": ...} body that Slack and Teams incoming webhooks take').choices(['json', 'slack']).default('json'))
    .addOption(new Option('--console-url <url>', "where users reach the web console, e.g. https://mdmops.example.com/: each notification sent links to its resource's page there (no link without it)"));
}

/** The notifier the flags ask for, given the store (the flags are checked first), or undefined. */
export function notifierOf(opts: NotifyFlags, log: Logger): ((store: Store) => Notifier) | undefined {
  for (const url of opts.notifyUrl) httpUrl('--notify-url', url);
  if (opts.consoleUrl) httpUrl('--console-url', opts.consoleUrl);
  if (!opts.notifyUrl.length) return undefined;
  const secret = secretFlag('--notify-secret-file', opts.notifySecretFile, 'MDMOPS_NOTIFY_SECRET');
  return (store) => new Notifier({ urls: opts.notifyUrl, secret, format: opts.notifyFormat, ...(opts.consoleUrl ? { consoleUrl: opts.consoleUrl } : {}), store, log });
}

function httpUrl(flag: string, url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // said below
  }
  if (parsed?.protocol !== 'https:' && parsed?.protocol !== 'http:') throw new UserError(`${flag}: not an http(s) URL: ${parsed ? parsed.protocol : 'unparsable'}`);
}

/** Delivers every `ms` (one delivery at a time) until the returned stop, which waits for the one under way. */
export function deliverEvery(notifier: Notifier, ms: number, log: Logger): () => Promise<void> {
  let under: Promise<void> | undefined;
  const timer = setInterval(() => {
    under ??= notifier
      .deliver()
      .catch((e: unknown) => log.warn(`notifications: ${messageOf(e)}`))
      .finally(() => (under = undefined));
  }, ms);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await under;
  };
}
