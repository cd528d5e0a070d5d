// When a certificate mdmops keeps must be issued again, and when one it only watches deserves a word:
// chains of small pure policies, as cert-manager's trigger policies. A gatherer builds the input from
// what is stored; the policies of a chain are asked in order and the first that fires wins.
import { DAY, HOUR, parseDuration } from '../api/duration.js';

/** Why a policy fired: a condition or notification reason and a sentence for an administrator. */
export interface Trigger {
  reason: string;
  message: string;
}

/** What a renewal decision looks at. Times are milliseconds since the epoch. */
export interface RenewalInput {
  now: number;
  /** The certificate held; undefined when there is none yet. */
  held?: { notBefore: number; notAfter: number };
  /** What the certificate says (its template, subject or user) is no longer what is asked. */
  contentChanged?: boolean;
  /** What signs it changed (a new CA key, a renewed issuer certificate). */
  issuerChanged?: boolean;
  /** The lifetime the spec asks for, as written (365d). */
  validity?: string;
  /** Renew this long before expiry, as written (30d). */
  renewBefore?: string;
  /** Renew once this share of its life has passed (an agent's certificate: 2/3). */
  renewAfterShare?: number;
  /** When what issues it expires: a new certificate cannot outlive it. */
  issuerNotAfter?: number;
}

export type Policy<I = RenewalInput> = (input: I) => Trigger | undefined;

/** The first policy of the chain that fires, or undefined. */
export function firstTrigger<I>(chain: readonly Policy<I>[], input: I): Trigger | undefined {
  for (const policy of chain) {
    const fired = policy(input);
    if (fired) return fired;
  }
  return undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A spec's durations, parsed once each: every plan asks about every user's certificate. */
const parsed = new Map<string, number>();
const durationMs = (text: string) => parsed.get(text) ?? (parsed.set(text, parseDuration(text)), parsed.get(text)!);

/**
 * A new certificate would not last longer than the one held: its issuer expires first. Renewing it
 * would give the same end date, and each apply would renew it again.
 */
const cappedByIssuer = (i: RenewalInput) => i.held !== undefined && i.issuerNotAfter !== undefined && i.held.notAfter >= i.issuerNotAfter - HOUR;

export const missing: Policy = (i) => (i.held ? undefined : { reason: 'DoesNotExist', message: 'no certificate yet' });

export const contentChanged: Policy = (i) => (i.contentChanged ? { reason: 'ContentChanged', message: 'what the certificate says changed' } : undefined);

export const issuerChanged: Policy = (i) => (i.issuerChanged ? { reason: 'IssuerChanged', message: "the issuer's certificate changed" } : undefined);

/** Its lifetime is not what the spec asks (within an hour), unless its issuer caps it. */
export const validityChanged: Policy = (i) => {
  if (!i.held || i.validity === undefined || cappedByIssuer(i)) return undefined;
  const lifetime = i.held.notAfter - i.held.notBefore;
  return Math.abs(lifetime - durationMs(i.validity)) > HOUR ? { reason: 'ValidityChanged', message: `validity changed to ${i.validity}` } : undefined;
};

/**
 * It expires within renewBefore, but never in the first half of its life (a certificate shorter-lived
 * than renewBefore is renewed at half-life, not at once), and not when its issuer caps it.
 */
export const expiring: Policy = (i) => {
  if (!i.held || i.renewBefore === undefined || cappedByIssuer(i)) return undefined;
  const lifetime = i.held.notAfter - i.held.notBefore;
  if (i.held.notAfter - i.now >= Math.min(durationMs(i.renewBefore), lifetime / 2)) return undefined;
  return { reason: 'Expiring', message: `it expires on ${iso(i.held.notAfter)}, within renewBefore (${i.renewBefore})` };
};

/** Past the given share of its life (renewAfterShare). */
export const lifeSpent: Policy = (i) => {
  if (!i.held || i.renewAfterShare === undefined) return undefined;
  const due = i.held.notBefore + (i.held.notAfter - i.held.notBefore) * i.renewAfterShare;
  return i.now >= due ? { reason: 'Expiring', message: `the current one ends ${iso(i.held.notAfter)}` } : undefined;
};

/** A CA certificate mdmops signs (Local, Intermediate with issuerRef): made, re-signed when its issuer or validity changes, renewed. */
export const CA_CERTIFICATE_POLICIES: readonly Policy[] = [missing, issuerChanged, validityChanged, expiring];

/** A user's identity certificate: issued, issued again when what it says or its CA changes, renewed. */
export const IDENTITY_CERTIFICATE_POLICIES: readonly Policy[] = [missing, contentChanged, issuerChanged, expiring];

/** A connector agent's client certificate: renewed past two thirds of its life. */
export const AGENT_CERTIFICATE_POLICIES: readonly Policy[] = [lifeSpent];
export const AGENT_RENEW_AFTER_SHARE = 2 / 3;

/** What an expiry warning looks at: a certificate mdmops watches but cannot renew (uploaded, externally signed). */
export interface ExpiryInput {
  now: number;
  notAfter: number;
  /** How it is named in a message: 'the CA certificate', 'certificate "CN=x"'. */
  what: string;
  /** Warn this long before it expires. */
  warnBeforeMs: number;
}

/** An expired certificate is not usable: an error reason. */
export const expired: Policy<ExpiryInput> = (i) => (i.notAfter <= i.now ? { reason: 'CertificateExpired', message: `${i.what} expired on ${iso(i.notAfter)}` } : undefined);

/** One that expires soon is said, with the days left. */
export const expiresSoon: Policy<ExpiryInput> = (i) => {
  const left = i.notAfter - i.now;
  return left < i.warnBeforeMs ? { reason: 'CertificateExpiring', message: `${i.what} expires on ${iso(i.notAfter)}, in ${Math.ceil(left / DAY)} days` } : undefined;
};

export const EXPIRY_POLICIES: readonly Policy<ExpiryInput>[] = [expired, expiresSoon];
