// What the gateway and the agent say to each other. The agent dials out over TLS; with ALPN
// "http/1.1" it enrols (POST /v1/enrol), with TUNNEL_ALPN it presents its client certificate and
// then serves HTTP/2 on that connection, so that the gateway, its client, opens the streams: one
// long control stream (JSON lines both ways) and a CONNECT stream per connection to host:port.
import type { LogLevel } from '../api/index.js';

export const TUNNEL_ALPN = 'mdmops-tunnel/1';
export const ENROL_PATH = '/v1/enrol';
export const CONTROL_PATH = '/v1/control';
export const LOGS_PATH = '/v1/logs/';
/**
 * HTTP/2 flow control: each stream may have this much unread before its sender waits, and the
 * connection as a whole this much, so that streams whose readers are slow do not hold up the others
 * (the control stream above all).
 */
export const STREAM_WINDOW = 1 << 20;
export const CONNECTION_WINDOW = 16 << 20;
/** Frames of up to 64 KiB (16 KiB by default): fewer frames, and fewer TLS records, for bulk data. */
export const FRAME_SIZE = 64 << 10;

/** Why the agent refused a stream, in its answer's headers. */
export const REFUSAL_HEADER = 'x-mdmops-refusal';

export interface EnrolRequest {
  token: string;
  /** PKCS#10, PEM. */
  csr: string;
  hostname: string;
  version: string;
}

export interface EnrolAnswer {
  tenant: string;
  connector: string;
  /** PEM. */
  certificate: string;
}

export interface ProxySetting {
  url: string;
  noProxy?: string[];
  username?: string;
  password?: string;
}

/** From the gateway. `seq` is acknowledged once the agent acts on it. */
export type GatewayMessage =
  | {
      type: 'settings';
      seq: number;
      /** host:port the agent may dial; anything else is refused. */
      destinations: string[];
      enabled: boolean;
      logLevel: LogLevel;
      logLevelSince?: string;
      heartbeatMs: number;
      /** undefined: no proxy (the agent's --proxy still applies). */
      proxy?: ProxySetting;
    }
  | { type: 'certificate'; seq: number; certificate?: string; error?: string }
  | { type: 'collect-logs'; seq: number; id: string }
  | { type: 'cancel-logs'; seq: number };

/** From the agent. */
export type AgentMessage =
  | { type: 'hello'; version: string; hostname: string; certificateNotAfter: string; lastError?: string }
  | { type: 'heartbeat'; logLevel: LogLevel; logLevelRevertsAt?: string }
  | { type: 'ack'; seq: number; error?: string }
  | { type: 'renew'; csr: string }
  | { type: 'logs'; id: string; state: 'ready' | 'failed' | 'cancelled'; name?: string; size?: number; error?: string };

/** JSON lines from a stream, one message each; a line longer than `max` ends the stream. */
export async function* jsonLines<T>(stream: AsyncIterable<Buffer | string>, max = 1 << 20): AsyncGenerator<T> {
  let pending = '';
  for await (const chunk of stream) {
    pending += chunk.toString();
    if (pending.length > max) throw new Error(`a control message longer than ${max} bytes`);
    let end;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.trim()) yield JSON.parse(line) as T;
    }
  }
}

export const line = (message: GatewayMessage | AgentMessage) => JSON.stringify(message) + '\n';
