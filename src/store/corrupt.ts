// A damaged SQLite store file, as SQLite reports it wherever it meets the damage: opening it, or
// mid-command.
import { messageOf } from '../util/message-of.js';

export const isCorruptStore = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | undefined)?.code;
  return code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT'));
};

export const corruptStoreMessage = (e: unknown) => `the store file is corrupt (${messageOf(e)}): restore it from a backup`;
