// Connector: the record of an on-premises or AWS-hosted agent. It is Ready once its agent connects.
import { Connector } from '../../api/index.js';
import { recordProvider } from '../record.js';

export const connectorProvider = recordProvider(Connector, {
  async inspect(_ctx, _desired, status) {
    if (status.connected === true) return { ready: { status: true, reason: 'AgentConnected', message: `agent ${status.hostname ?? ''} connected`.trim() } };
    const message = 'no connector agent has connected yet; resources reached through this connector wait for it';
    return {
      ready: { status: false, reason: 'AgentNotConnected', message },
      status: { connected: false },
      notices: [{ reason: 'ConnectorNotConnected', severity: 'Warning', message }],
    };
  },
});
