// Who may trigger a fetch: a sender that knows the shared secret. GitHub signs the body
// (X-Hub-Signature-256: sha256=HMAC); GitLab and others send the secret itself (X-Gitlab-Token,
// Authorization: Bearer, X-Mdmops-Token). Compared in constant time. Pure.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { sameSecret } from '../util/same-secret.js';

const header = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/**
 * Whether the sender knows the secret. A shared secret sent as it is is checked from the headers
 * alone; only a signature needs the body, so an unknown sender is refused before a byte of its
 * body is read.
 */
export async function webhookAuthorized(headers: IncomingHttpHeaders, readBody: () => Promise<Buffer>, secret: string): Promise<boolean> {
  if (!secret) return false;
  const signature = header(headers, 'x-hub-signature-256');
  if (signature !== undefined) {
    const m = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim());
    return !!m && timingSafeEqual(Buffer.from(m[1]!, 'hex'), createHmac('sha256', secret).update(await readBody()).digest());
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(header(headers, 'authorization')?.trim() ?? '')?.[1];
  const token = bearer ?? header(headers, 'x-mdmops-token') ?? header(headers, 'x-gitlab-token');
  return token !== undefined && sameSecret(token, secret);
}

/** The sender's id of a delivery (GitHub, GitLab), to ignore one delivered again. */
export function deliveryId(headers: IncomingHttpHeaders): string | undefined {
  return header(headers, 'x-github-delivery') ?? header(headers, 'x-gitlab-event-uuid') ?? header(headers, 'x-mdmops-delivery');
}

/** The last `size` delivery ids seen: a delivery whose id is among them is a replay. */
export class SeenDeliveries {
  private readonly ids = new Set<string>();
  constructor(private readonly size = 1000) {}

  /** Records the id; false when it was seen before. */
  first(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.size) this.ids.delete(this.ids.values().next().value!);
    return true;
  }
}
