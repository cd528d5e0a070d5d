// Logs of the long-running modes: JSON lines (pino) for collectors, readable lines on a terminal.
// Secret-bearing fields are redacted by name wherever they appear, as a second line of defence:
// secret values are never put in log objects in the first place.
import { pino, type Logger } from 'pino';

export type { Logger };

const SECRET_KEYS = ['password', 'secret', 'token', 'clientSecret', 'authorization', 'privateKey', 'key', 'challenge', 'webhookSecret'];

/** A second place every line goes, as JSON (the connector agent's kocab.log). */
export interface LogTee {
  write(line: string): void;
}

export function createLogger(opts: { level?: string; pretty?: boolean; destination?: NodeJS.WritableStream; tee?: LogTee } = {}): Logger {
  const pretty = opts.pretty ?? (process.stderr.isTTY && !process.env.MDMOPS_LOG_JSON);
  const redact = { paths: SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]), censor: '[redacted]' };
  const level = opts.level ?? process.env.MDMOPS_LOG_LEVEL ?? 'info';
  if (opts.tee) {
    // Each stream takes every level: the logger's own level (which the agent changes) decides.
    const streams = [{ level: 'trace' as const, stream: (opts.destination ?? process.stderr) as pino.DestinationStream }, { level: 'trace' as const, stream: opts.tee }];
    return pino({ level, redact, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, pino.multistream(streams));
  }
  if (pretty && !opts.destination) {
    return pino({ level, redact, transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' } } });
  }
  return pino({ level, redact, base: undefined }, (opts.destination ?? process.stderr) as pino.DestinationStream);
}
