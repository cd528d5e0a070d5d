// Notifications sent out, for administrators who are not looking (as Flux's notification-controller
// does): each notification raised, raised again after it was resolved, or resolved is POSTed to every
// --notify-url as JSON, signed with HMAC-SHA256 when a secret is given, retried with backoff. What
// was delivered to each URL is kept in the store, so a restart sends nothing twice; the store holds
// notifications without secrets, and a URL (a Slack webhook's is a secret) is never logged whole.
import { createHash, createHmac } from 'node:crypto';
import type { Logger } from '../observe/log.js';
import type { Notification, Store } from '../store/types.js';
import { messageOf } from '../util/message-of.js';
import { resourcePath } from './console/paths.js';

export type NotifyFormat = 'json' | 'slack';

export interface NotifierOptions {
  urls: string[];
  /** HMAC-SHA256 key of the X-Mdmops-Signature header. */
  secret?: string;
  format: NotifyFormat;
  /** Where users reach the console (--console-url): each notification links to its resource's page there. */
  consoleUrl?: string;
  store: Store;
  log: Logger;
  timeoutMs?: number;
}

export type NotificationEvent = 'raised' | 're-raised' | 'resolved';

/** What was last delivered of one notification to one URL. */
interface Delivered {
  active: boolean;
  lastSeen: string;
}

const MAX_BACKOFF_MS = 5 * 60_000;

/** What to send of a notification, given what was delivered of it: nothing, or the event. A pure policy. */
export function eventOf(n: Notification, delivered: Delivered | undefined): NotificationEvent | undefined {
  if (n.active) return !delivered ? 'raised' : delivered.active ? undefined : 're-raised';
  return delivered?.active ? 'resolved' : undefined;
}

/** The page of a notification's resource in the console at `consoleUrl`. */
export const consoleLink = (n: Notification, consoleUrl: string) => new URL(resourcePath(n).slice(1), consoleUrl.endsWith('/') ? consoleUrl : `${consoleUrl}/`).href;

export function payloadOf(event: NotificationEvent, n: Notification, format: NotifyFormat, consoleUrl?: string): Record<string, unknown> {
  const resource = `${n.kind}/${n.name}`;
  const link = consoleUrl ? consoleLink(n, consoleUrl) : undefined;
  if (format === 'slack') {
    // The body Slack's and Teams' incoming webhooks both take; both make a link of a bare URL.
    return { text: `[${n.severity}] ${resource} (tenant ${n.tenant}) ${event}: ${n.reason}: ${n.message}${link ? ` ${link}` : ''}` };
  }
  const { tenant, kind, name, reason, severity, message, count, firstSeen, lastSeen } = n;
  return { event, tenant, resource, kind, name, reason, severity, message, count, firstSeen, lastSeen, ...(link ? { link } : {}) };
}

const keyOf = (n: Notification) => `${n.tenant}/${n.kind}/${n.name}/${n.reason}`;
const urlId = (url: string) => createHash('sha256').update(url).digest('hex').slice(0, 16);
/** The URL as logs may show it: its origin (the path of a webhook may be its secret). */
const originOf = (url: string) => new URL(url).origin;

export class Notifier {
  private readonly retryAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly delivered = new Map<string, Delivered | undefined>();

  constructor(private readonly o: NotifierOptions) {}

  /** Sends what changed since the last delivery to each URL; a URL that fails waits its backoff. */
  async deliver(now = Date.now()): Promise<void> {
    const all = await this.o.store.listNotifications();
    for (const url of this.o.urls) {
      if ((this.retryAt.get(url) ?? 0) > now) continue;
      try {
        for (const n of all) {
          const metaKey = `notify-delivered/${urlId(url)}/${keyOf(n)}`;
          const event = eventOf(n, await this.deliveredOf(metaKey));
          if (!event) continue;
          await this.post(url, payloadOf(event, n, this.o.format, this.o.consoleUrl), `${metaKey}/${event}/${n.lastSeen}`);
          const delivered: Delivered = { active: n.active, lastSeen: n.lastSeen };
          await this.o.store.commit([{ op: 'setMeta', key: metaKey, value: JSON.stringify(delivered) }]);
          this.delivered.set(metaKey, delivered);
          this.o.log.info({ to: originOf(url), event, notification: keyOf(n) }, `notification ${keyOf(n)} ${event}: sent to ${originOf(url)}`);
        }
        this.failures.delete(url);
        this.retryAt.delete(url);
      } catch (e) {
        const failures = (this.failures.get(url) ?? 0) + 1;
        const backoffMs = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1));
        this.failures.set(url, failures);
        this.retryAt.set(url, now + backoffMs);
        this.o.log.warn({ to: originOf(url), failures, retryInMs: backoffMs }, `notifications to ${originOf(url)} failed (${messageOf(e)}); tried again in ${Math.round(backoffMs / 1000)} s`);
      }
    }
  }

  /** What was delivered of a notification to a URL: read from the store once, then kept (this process alone sends). */
  private async deliveredOf(metaKey: string): Promise<Delivered | undefined> {
    if (!this.delivered.has(metaKey)) {
      const text = await this.o.store.getMeta(metaKey);
      this.delivered.set(metaKey, text ? (JSON.parse(text) as Delivered) : undefined);
    }
    return this.delivered.get(metaKey);
  }

  private async post(url: string, payload: Record<string, unknown>, deliveryKey: string): Promise<void> {
    const body = JSON.stringify(payload);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      // The same change always has the same id: a receiver may drop one it has seen.
      'x-mdmops-delivery': createHash('sha256').update(deliveryKey).digest('hex'),
    };
    if (this.o.secret) headers['x-mdmops-signature'] = `sha256=${createHmac('sha256', this.o.secret).update(body).digest('hex')}`;
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000), redirect: 'error' });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`answered ${res.status}`);
  }
}
