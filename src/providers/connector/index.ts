// Connector: an on-premises or AWS-hosted agent. It is Ready while its agent is connected to a
// gateway (mdmops serve, run or controller with --gateway-listen), as that gateway records it.
import { Connector, effectiveLogLevel } from '../../api/index.js';
import type { Notice } from '../../engine/provider.js';
import { defineProvider } from '../record.js';
import { PRESENCE, PRESENCE_EVERY_MS, type Presence } from './presence.js';

export const connectorProvider = defineProvider(Connector, {
  async observe(ctx, d, status, record) {
    const now = new Date();
    // The hour a raised level lasts counts from logLevelSince, or from when this level was first applied.
    const since = d.spec.logLevelSince ?? (record?.spec.logLevel === d.spec.logLevel && typeof status.logLevelSince === 'string' ? status.logLevelSince : now.toISOString());
    const declared = effectiveLogLevel(d.spec.logLevel, since, now);
    const opened = await ctx.blob(d.id, PRESENCE);
    const agent = opened && (JSON.parse(opened.toString()) as Presence);
    const base = {
      hosting: d.spec.hosting,
      region: d.spec.aws?.region,
      logLevelSince: d.spec.logLevel === 'Info' ? undefined : since,
      effectiveLogLevel: declared.level,
      logLevelRevertsAt: declared.revertsAt,
    };
    if (!agent) {
      const message = `no agent has connected yet: make a token (mdmops connector token Connector/${d.id.name}) and start the agent with it; resources reached through this connector wait for it`;
      return {
        ready: { status: false, reason: 'AgentNotConnected', message },
        status: { ...base, connected: false },
        notices: [{ reason: 'ConnectorNotConnected', severity: 'Warning', message }],
      };
    }
    // The gateway says at once when an agent goes; a presence not renewed in time is that of a gateway that is gone.
    const heard = agent.lastHeartbeat ? Date.parse(agent.lastHeartbeat) : 0;
    const connected = agent.connected && now.getTime() - heard <= 3 * agent.heartbeatMs + PRESENCE_EVERY_MS;
    const seen = {
      ...base,
      connected,
      version: agent.version,
      hostname: agent.hostname,
      lastHeartbeat: agent.lastHeartbeat,
      certificateNotAfter: agent.certificateNotAfter,
      lastError: agent.lastError,
      logCollection: agent.logs && { state: agent.logs.state, requestedAt: agent.logs.requestedAt, file: agent.logs.name, size: agent.logs.size, error: agent.logs.error },
      // What the agent says it runs at, while it is there to say it.
      ...(connected && agent.logLevel ? { effectiveLogLevel: agent.logLevel, logLevelRevertsAt: agent.logLevelRevertsAt } : {}),
    };
    const who = `the agent${agent.hostname ? ` on ${agent.hostname}` : ''}`;
    if (!connected) {
      const message = `${who} was last heard from at ${agent.lastHeartbeat ?? 'an unknown time'}${agent.lastError ? ` (${agent.lastError})` : ''}; resources reached through this connector wait for it`;
      return { ready: { status: false, reason: 'AgentUnreachable', message }, status: seen, notices: [{ reason: 'ConnectorUnreachable', severity: 'Warning', message }] };
    }
    const notices: Notice[] = [];
    if (agent.version && agent.serverVersion && olderThan(agent.version, agent.serverVersion)) {
      notices.push({ reason: 'ConnectorOutdated', severity: 'Warning', message: `${who} runs mdmops ${agent.version}, older than the server's ${agent.serverVersion}: upgrade it` });
    }
    if (d.spec.enabled === false) {
      return { ready: { status: false, reason: 'Disabled', message: `${who} is connected, but the connector is disabled (enabled: false) and carries no traffic` }, status: seen, notices };
    }
    return { ready: { status: true, reason: 'AgentConnected', message: `${who} (mdmops ${agent.version ?? '?'}) is connected` }, status: seen, notices };
  },
});

/** Dotted versions compared number by number (1.10.0 is newer than 1.9.3). */
function olderThan(a: string, b: string): boolean {
  const pa = a.split(/[.-]/).map((n) => parseInt(n, 10) || 0);
  const pb = b.split(/[.-]/).map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0);
  }
  return false;
}
