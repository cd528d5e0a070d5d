// A connector's log level (seed 000): Info is the default, and any other level is a temporary
// elevation that reverts to Info one hour after it was set. Pure.
import { HOUR } from './duration.js';

export const LOG_LEVELS = ['Error', 'Warn', 'Info', 'Debug', 'Trace'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/** How long a level other than Info lasts. */
const ELEVATION = HOUR;

/**
 * The level in force at `now`, and when it reverts to Info (ISO time) while an elevation lasts.
 * `since` is when the level was set. A level other than Info with no `since` is in force with no
 * revert time known, until a `since` is given: the one who sets a level records when. A `since`
 * that is not a time counts as long past (the level is Info): an elevation never outlives its hour
 * because its start time was damaged.
 */
export function effectiveLogLevel(level: LogLevel | undefined, since: string | undefined, now: Date): { level: LogLevel; revertsAt?: string } {
  if (level === undefined || level === 'Info') return { level: 'Info' };
  if (since === undefined) return { level };
  const revertsAt = Date.parse(since) + ELEVATION;
  if (!(now.getTime() < revertsAt)) return { level: 'Info' }; // also when since is not a time (NaN)
  return { level, revertsAt: new Date(revertsAt).toISOString() };
}

const PINO_LEVELS: Record<LogLevel, Lowercase<LogLevel>> = { Error: 'error', Warn: 'warn', Info: 'info', Debug: 'debug', Trace: 'trace' };

/** The name pino gives the same level. */
export function pinoLevel(level: LogLevel): Lowercase<LogLevel> {
  return PINO_LEVELS[level];
}
