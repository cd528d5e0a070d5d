// SqlProvisioning: the record; Ready when its identity source is Ready and its database answers.
import { SqlProvisioning } from '../../api/index.js';
import { probeUrl } from '../../net/probe.js';
import { dependencyReady, recordProvider, unreachable } from '../record.js';

export const sqlProvisioningProvider = recordProvider(SqlProvisioning, {
  async inspect(ctx, d) {
    const waiting = await dependencyReady(ctx, { tenant: d.id.tenant, kind: d.spec.sourceRef.kind, name: d.spec.sourceRef.name }, 'Source');
    if (waiting) return waiting;
    const url = d.secrets['spec.connection.urlSecretRef']?.value;
    if (!url || d.spec.connection.driver === 'SQLite') return {};
    const probe = await probeUrl(url, ctx.outbound);
    // The URL holds credentials: the message names only host and port.
    if (!probe.ok) return unreachable('SqlServerUnreachable', `the application database cannot be reached (${probe.message})`);
    return {};
  },
});
