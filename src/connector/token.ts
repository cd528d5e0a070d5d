// Enrolment tokens: one-time, short-lived, and carrying what the agent needs to trust the gateway
// (the pin of its CA), so that enrolling takes no file but the token. The store keeps only the
// SHA-256 of the token's secret and its expiry, on the Connector.
import { createHash, randomBytes } from 'node:crypto';
import { connectorId, sealedWrite, TOKEN } from '../providers/connector/presence.js';
import type { MasterKey } from '../store/master-key.js';
import type { Store } from '../store/types.js';

const PREFIX = 'mdmops-connector-token.';

export interface Token {
  tenant: string;
  connector: string;
  secret: string;
  /** spkiPin of the gateway's CA. */
  pin: string;
}

export interface StoredToken {
  sha256: string;
  expiresAt: string;
  usedAt?: string;
}

export class TokenError extends Error {}

function makeToken(tenant: string, connector: string, pin: string): Token {
  return { tenant, connector, pin, secret: randomBytes(32).toString('base64url') };
}

export const tokenText = (t: Token) => PREFIX + Buffer.from(JSON.stringify({ t: t.tenant, c: t.connector, s: t.secret, p: t.pin })).toString('base64url');

export function readToken(text: string): Token {
  const body = text.trim();
  if (!body.startsWith(PREFIX)) throw new TokenError('this is not a connector enrolment token (mdmops connector token Connector/NAME makes one)');
  try {
    const j = JSON.parse(Buffer.from(body.slice(PREFIX.length), 'base64url').toString()) as Record<string, unknown>;
    if ([j.t, j.c, j.s, j.p].every((v) => typeof v === 'string' && v)) return { tenant: j.t as string, connector: j.c as string, secret: j.s as string, pin: j.p as string };
  } catch {
    // said below
  }
  throw new TokenError('the enrolment token is damaged: copy it again, whole');
}

export const secretSha256 = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** Makes a token for the Connector and keeps its hash: one at a time per connector, a new one voids the one before. */
export async function issueToken(store: Store, key: MasterKey, id: { tenant: string; name: string }, pin: string, ttlMs: number): Promise<{ text: string; expiresAt: string }> {
  const token = makeToken(id.tenant, id.name, pin);
  const expiresAt = new Date(Date.now() + ttlMs).toISOString();
  await store.commit([sealedWrite(key, connectorId(id.tenant, id.name), TOKEN, { sha256: secretSha256(token.secret), expiresAt } satisfies StoredToken)]);
  return { text: tokenText(token), expiresAt };
}
