// What the gateway knows of a connector's agent, kept sealed on the Connector in the tenant store:
// the reconciler reads it to say whether the connector is Ready, whichever process holds the tunnel.
// Enrolment tokens and the fingerprints of the agent's certificates live beside it, so that deleting
// the Connector (which deletes its blobs) voids its tokens and revokes its agent.
import { blobAad as aad } from '../../engine/context.js';
import type { MasterKey } from '../../store/master-key.js';
import type { ResourceId, Store, Write } from '../../store/types.js';

export const PRESENCE = 'agent';
export const CERTIFICATES = 'agent-certificates';
export const TOKEN = 'enrolment-token';

/**
 * Heartbeats are written to the store at most this often (coming and going, at once): a presence
 * older than this and three heartbeats is that of a server that stopped without saying so.
 */
export const PRESENCE_EVERY_MS = 30_000;

/** A log collection the gateway asked the agent for (mdmops connector logs). */
export interface LogCollection {
  id: string;
  state: 'collecting' | 'ready' | 'failed' | 'cancelled';
  requestedAt: string;
  /** The zip, once ready: <hostname>_<version>_<timestamp>.zip. */
  name?: string;
  size?: number;
  error?: string;
}

export interface Presence {
  connected: boolean;
  hostname?: string;
  version?: string;
  /** The gateway's own version: an older agent is reported outdated. */
  serverVersion?: string;
  connectedAt?: string;
  lastHeartbeat?: string;
  /** The agent's heartbeat interval: three of them without one and the agent counts as gone. */
  heartbeatMs: number;
  certificateNotAfter?: string;
  logLevel?: string;
  logLevelRevertsAt?: string;
  lastError?: string;
  logs?: LogCollection;
}

export async function readSealed<T>(store: Store, key: MasterKey, id: ResourceId, purpose: string): Promise<T | undefined> {
  const sealed = await store.getBlob(id, purpose);
  return sealed && (JSON.parse(key.open(sealed, aad(id, purpose)).toString()) as T);
}

export function sealedWrite(key: MasterKey, id: ResourceId, purpose: string, value: unknown): Write {
  return { op: 'putBlob', id, purpose, sealed: key.seal(Buffer.from(JSON.stringify(value)), aad(id, purpose)) };
}

export const connectorId = (tenant: string, name: string): ResourceId => ({ tenant, kind: 'Connector', name });
