// The accounts a peer core pushes with: one tenant's each, kept in the store as a slow hash
// (scrypt, a salt of its own), never the password.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store } from '../store/types.js';

const COST: ScryptOptions = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_BYTES = 32;

/** The store's meta key of an account: the tenant is part of it. */
export const accountKey = (tenant: string, name: string) => `core-sync-account/${tenant}/${name}`;

const derive = (password: string, salt: Buffer, cost: ScryptOptions) =>
  new Promise<Buffer>((resolve, reject) => scrypt(password, salt, KEY_BYTES, cost, (e, key) => (e ? reject(e) : resolve(key))));

/** scrypt$N$r$p$salt$key, base64. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function passwordMatches(stored: string, password: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const got = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p), maxmem: COST.maxmem });
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** Whether name:password is an account of the tenant. A name without an account costs the same time. */
export async function authenticate(store: Store, tenant: string, name: string, password: string): Promise<boolean> {
  const stored = await store.getMeta(accountKey(tenant, name));
  const ok = await passwordMatches(stored ?? (await (dummy ??= hashPassword(randomBytes(16).toString('hex')))), password);
  return ok && stored !== undefined;
}

let dummy: Promise<string> | undefined;
