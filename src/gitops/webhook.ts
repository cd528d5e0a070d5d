// Who may trigger a fetch: a sender that knows the shared secret. GitHub signs the body
// (X-Hub-Signature-256: sha256=HMAC); GitLab and others send the secret itself (X-Gitlab-Token,
// Authorization: Bearer, X-Mdmops-Token). Compared in constant time. Pure.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const digest = (s: string | Buffer) => createHash('sha256').update(s).digest();

/** Equal strings, in time that does not depend on where they differ (nor on the secret's length). */
function sameSecret(given: string, secret: string): boolean {
  return timingSafeEqual(digest(given), digest(secret));
}

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

export function webhookAuthorized(headers: IncomingHttpHeaders, body: Buffer, secret: string): boolean {
  if (!secret) return false;
  const signature = header(headers, 'x-hub-signature-256');
  if (signature !== undefined) {
    const m = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim());
    if (!m) return false;
    const expected = createHmac('sha256', secret).update(body).digest();
    return timingSafeEqual(Buffer.from(m[1]!, 'hex'), expected);
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(header(headers, 'authorization')?.trim() ?? '')?.[1];
  const token = bearer ?? header(headers, 'x-mdmops-token') ?? header(headers, 'x-gitlab-token');
  return token !== undefined && sameSecret(token, secret);
}
