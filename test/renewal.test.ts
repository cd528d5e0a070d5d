// The renewal policies (src/pki/renewal.ts), each alone with a table, then the chains in order.
import { describe, expect, it } from 'vitest';
import {
  AGENT_CERTIFICATE_POLICIES,
  AGENT_RENEW_AFTER_SHARE,
  CA_CERTIFICATE_POLICIES,
  contentChanged,
  EXPIRY_POLICIES,
  expired,
  expiresSoon,
  expiring,
  firstTrigger,
  IDENTITY_CERTIFICATE_POLICIES,
  issuerChanged,
  lifeSpent,
  missing,
  validityChanged,
  type ExpiryInput,
  type Policy,
  type RenewalInput,
} from '../src/pki/renewal.js';

const at = (iso: string) => Date.parse(iso);
const DAY = 86_400_000;
/** A year-long certificate, from 2025-08-01 to 2026-08-01. */
const held = { notBefore: at('2025-08-01T00:00:00Z'), notAfter: at('2026-08-01T00:00:00Z') };
const base: RenewalInput = { now: at('2026-06-01T00:00:00Z'), held, validity: '365d', renewBefore: '30d' };

type Row<I> = [string, I, string | undefined];
function table<I>(policy: Policy<I>, rows: Row<I>[]) {
  it.each(rows)('%s', (_name, input, reason) => {
    expect(policy(input)?.reason).toBe(reason);
  });
}

describe('missing', () => {
  table(missing, [
    ['fires without a certificate', { ...base, held: undefined }, 'DoesNotExist'],
    ['passes with one', base, undefined],
  ]);
});

describe('contentChanged and issuerChanged', () => {
  table(contentChanged, [
    ['fires when what it says changed', { ...base, contentChanged: true }, 'ContentChanged'],
    ['passes otherwise', base, undefined],
  ]);
  table(issuerChanged, [
    ['fires when its issuer changed', { ...base, issuerChanged: true }, 'IssuerChanged'],
    ['passes otherwise', { ...base, issuerChanged: false }, undefined],
  ]);
});

describe('validityChanged', () => {
  table(validityChanged, [
    ['passes at the asked validity', base, undefined],
    ['passes within an hour of it', { ...base, held: { ...held, notAfter: held.notAfter + 3_000_000 } }, undefined],
    ['fires on another validity', { ...base, validity: '730d' }, 'ValidityChanged'],
    ['passes when its issuer caps it', { ...base, validity: '730d', issuerNotAfter: held.notAfter }, undefined],
    ['passes when the spec says none', { ...base, validity: undefined }, undefined],
  ]);
});

describe('expiring', () => {
  const short = { notBefore: at('2026-05-31T00:00:00Z'), notAfter: at('2026-06-10T00:00:00Z') };
  table(expiring, [
    ['passes before renewBefore', base, undefined],
    ['fires within renewBefore', { ...base, now: at('2026-07-05T00:00:00Z') }, 'Expiring'],
    ['passes when its issuer expires first', { ...base, now: at('2026-07-05T00:00:00Z'), issuerNotAfter: at('2026-08-01T00:00:00Z') }, undefined],
    ['fires when its issuer lasts longer', { ...base, now: at('2026-07-05T00:00:00Z'), issuerNotAfter: at('2030-01-01T00:00:00Z') }, 'Expiring'],
    ['passes in the first half of a life shorter than renewBefore', { ...base, held: short, now: at('2026-06-01T00:00:00Z') }, undefined],
    ['fires past the half of a life shorter than renewBefore', { ...base, held: short, now: at('2026-06-06T00:00:00Z') }, 'Expiring'],
  ]);
  it('says when it expires and the renewBefore it is within', () => {
    expect(expiring({ ...base, now: at('2026-07-05T00:00:00Z') })?.message).toBe('it expires on 2026-08-01T00:00:00.000Z, within renewBefore (30d)');
  });
});

describe('lifeSpent', () => {
  const agent = { now: held.notBefore, held, renewAfterShare: AGENT_RENEW_AFTER_SHARE };
  table(lifeSpent, [
    ['passes before two thirds of its life', { ...agent, now: held.notBefore + 200 * DAY }, undefined],
    ['fires past two thirds of its life', { ...agent, now: held.notBefore + 250 * DAY }, 'Expiring'],
    ['passes without a share', { ...agent, now: held.notAfter, renewAfterShare: undefined }, undefined],
  ]);
});

describe('expiry warnings', () => {
  const watched: ExpiryInput = { now: at('2026-06-01T00:00:00Z'), notAfter: at('2026-08-01T00:00:00Z'), what: 'the CA certificate', warnBeforeMs: 30 * DAY };
  table(expired, [
    ['fires once expired', { ...watched, now: watched.notAfter }, 'CertificateExpired'],
    ['passes before', watched, undefined],
  ]);
  table(expiresSoon, [
    ['fires within the warning', { ...watched, now: at('2026-07-20T00:00:00Z') }, 'CertificateExpiring'],
    ['passes before it', watched, undefined],
    ['passes with no warning asked', { ...watched, now: at('2026-07-20T00:00:00Z'), warnBeforeMs: 0 }, undefined],
  ]);
  it('names the certificate, its end and the days left', () => {
    expect(firstTrigger(EXPIRY_POLICIES, { ...watched, now: at('2026-07-20T00:00:00Z') })?.message).toBe('the CA certificate expires on 2026-08-01T00:00:00.000Z, in 12 days');
    expect(firstTrigger(EXPIRY_POLICIES, { ...watched, now: at('2026-09-01T00:00:00Z') })?.message).toBe('the CA certificate expired on 2026-08-01T00:00:00.000Z');
  });
});

describe('the chains', () => {
  const reasons = (chain: readonly Policy[], input: RenewalInput) => firstTrigger(chain, input)?.reason;
  it('asks in order, and the first that fires wins', () => {
    const late = { ...base, now: at('2026-07-05T00:00:00Z') };
    expect(reasons(CA_CERTIFICATE_POLICIES, { ...late, held: undefined, issuerChanged: true })).toBe('DoesNotExist');
    expect(reasons(CA_CERTIFICATE_POLICIES, { ...late, issuerChanged: true, validity: '730d' })).toBe('IssuerChanged');
    expect(reasons(CA_CERTIFICATE_POLICIES, { ...late, validity: '730d' })).toBe('ValidityChanged');
    expect(reasons(CA_CERTIFICATE_POLICIES, late)).toBe('Expiring');
    expect(reasons(CA_CERTIFICATE_POLICIES, base)).toBeUndefined();
    expect(reasons(IDENTITY_CERTIFICATE_POLICIES, { ...late, contentChanged: true, issuerChanged: true })).toBe('ContentChanged');
    // An identity certificate's validity is part of what it says (contentChanged), not a policy of its own.
    expect(reasons(IDENTITY_CERTIFICATE_POLICIES, { ...base, validity: '730d' })).toBeUndefined();
    expect(reasons(AGENT_CERTIFICATE_POLICIES, { now: held.notAfter - DAY, held, renewAfterShare: AGENT_RENEW_AFTER_SHARE })).toBe('Expiring');
  });
});
