// Console sign-in tokens: made by `mdmops console token`, kept in the store as a SHA-256 of their
// secret part (they hold 192 random bits: a fast hash suffices), with the role and name they sign
// in as, and an expiry. The product's two roles: System Manager and System Read-Only.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../../store/types.js';

export type Role = 'manager' | 'read-only';
export const ROLES: readonly Role[] = ['manager', 'read-only'];
export const roleName = (r: Role) => (r === 'manager' ? 'System Manager' : 'System Read-Only');

export interface ConsoleToken {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  expiresAt: string;
  sha256: string;
}

const KEY = 'console-tokens';
const PREFIX = 'mdc_';
const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');

export async function listTokens(store: Store): Promise<ConsoleToken[]> {
  const text = await store.getMeta(KEY);
  return text ? (JSON.parse(text) as ConsoleToken[]) : [];
}

/** A new token: printed once, never stored. */
export async function makeToken(store: Store, o: { role: Role; name: string; ttlMs: number; now?: Date }): Promise<{ token: string; entry: ConsoleToken }> {
  const now = o.now ?? new Date();
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(24).toString('base64url');
  const entry: ConsoleToken = { id, name: o.name, role: o.role, createdAt: now.toISOString(), expiresAt: new Date(now.getTime() + o.ttlMs).toISOString(), sha256: digest(secret) };
  // Expired tokens go when a new one is made.
  const kept = (await listTokens(store)).filter((t) => Date.parse(t.expiresAt) > now.getTime());
  await store.commit([{ op: 'setMeta', key: KEY, value: JSON.stringify([...kept, entry]) }]);
  return { token: `${PREFIX}${id}_${secret}`, entry };
}

/** Revokes tokens by id or name; how many went. */
export async function revokeTokens(store: Store, idOrName: string): Promise<number> {
  const all = await listTokens(store);
  const kept = all.filter((t) => t.id !== idOrName && t.name !== idOrName);
  if (kept.length !== all.length) await store.commit([{ op: 'setMeta', key: KEY, value: JSON.stringify(kept) }]);
  return all.length - kept.length;
}

/** The token a sign-in gave, if it is known and not expired. */
export async function tokenOf(store: Store, given: string, now = Date.now()): Promise<ConsoleToken | undefined> {
  const m = /^mdc_([0-9a-f]{12})_([A-Za-z0-9_-]{32})$/.exec(given.trim());
  if (!m) return undefined;
  const entry = (await listTokens(store)).find((t) => t.id === m[1]);
  if (!entry || Date.parse(entry.expiresAt) <= now) return undefined;
  return timingSafeEqual(Buffer.from(digest(m[2]!), 'hex'), Buffer.from(entry.sha256, 'hex')) ? entry : undefined;
}

/** Whether the token is still there and valid (not revoked, not expired): checked at each request. */
export async function stillValid(store: Store, id: string, now = Date.now()): Promise<boolean> {
  const entry = (await listTokens(store)).find((t) => t.id === id);
  return !!entry && Date.parse(entry.expiresAt) > now;
}
