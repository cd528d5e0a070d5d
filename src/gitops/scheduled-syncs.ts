// The run loop calls this once per round, after the revision in force has been applied: the
// identity sources whose syncInterval has passed since their last sync are synced (one round each,
// checked as often as the loop's --interval).
import { runDueSyncs } from '../engine/scheduled-sync.js';
import type { Logger } from '../observe/log.js';
import type { Engine } from '../engine/context.js';
import type { SecretResolver } from '../config/secrets.js';

export async function syncDueIdentitySources(session: Engine & { secrets: SecretResolver }, log: Logger): Promise<void> {
  for (const { source, report } of await runDueSyncs(session, session.secrets, 'mdmops run')) {
    const counts = { users: report.userCount, added: report.added, updated: report.updated, removed: report.removed };
    if (report.error || report.blocked) log.warn({ source, ...counts }, `scheduled sync of ${source} changed nothing: ${report.error ?? report.blocked}`);
    else log.info({ source, ...counts }, `synced ${source}`);
  }
}
