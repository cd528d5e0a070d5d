// The run loop calls this once per round, after the revision in force has been applied.
// Issue 6 plugs in here: sync the identity sources (EntraIdSource, LdapSource) whose syncInterval
// has elapsed since their last sync. Until then it does nothing.
import type { Logger } from '../server/log.js';
import type { RunSession } from './runner.js';

export async function syncDueIdentitySources(_session: RunSession, _log: Logger): Promise<void> {}
