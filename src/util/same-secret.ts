// Comparing a presented secret (a token, a shared secret) with the expected one, in time that
// depends neither on where they differ nor on the secret's length. Pure.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

export function sameSecret(given: string, secret: string): boolean {
  return timingSafeEqual(digest(given), digest(secret));
}
