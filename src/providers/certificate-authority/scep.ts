// ScepOnPremises CA: a SCEP server (RFC 8894) inside the customer network, reached through its
// connector. Its CA certificate is pinned (caFingerprint, else trusted on first use); the challenge
// is kept sealed for enrolment; identity certificates are enrolled one by one.
import { X509Certificate } from 'node:crypto';
import type { Made, Observed, ProviderContext } from '../../engine/provider.js';
import { certificationRequest, toPem } from '../../pki/certificate.js';
import { makeKey, pkcs8 } from '../../pki/keys.js';
import { enroll, getCaCaps, getCaCert, ScepError, httpTransportWith, type ScepTransport } from '../../pki/scep.js';
import { certificateInfo } from '../../pki/x509.js';
import { guardedLookup, hostRefusal } from '../../net/outbound.js';
import { withRetry } from '../../net/retry.js';
import { messageOf } from '../../util/message-of.js';
import { throughConnector, unreachable } from '../record.js';
import { chainOf, oneByOne } from './issuer.js';
import { connectorGate, secretOf, unreachableError } from './servers.js';
import type { CaDesired, CaSpec, CaStrategy } from './strategy.js';

/**
 * How SCEP requests travel: through the CA's connector when it names one (its agent dials the
 * server inside the customer network), else from here, where the outbound policy lets them.
 */
function scepTransport(ctx: ProviderContext, ca: { tenant: string; kind: string; name: string; spec: CaSpec }): ScepTransport {
  const connector = ca.spec.connectorRef;
  if (connector) return httpTransportWith({ dial: throughConnector(ctx, ca, connector.name) });
  const transport = httpTransportWith({ lookup: guardedLookup(ctx.outbound) });
  return {
    request(method, url, body) {
      const refused = hostRefusal(ctx.outbound, new URL(url).hostname);
      return refused ? Promise.reject(new ScepError(refused, 'unreachable')) : transport.request(method, url, body);
    },
  };
}

const fingerprint = (der: Buffer) => certificateInfo(der).fingerprintSha256;
const normal = (fp: string) => fp.replace(/:/g, '').toLowerCase();

/**
 * The pin a SCEP CA is held to: the committed caFingerprint, else the fingerprint of the CA
 * certificate first seen (trust on first use), kept in status.
 */
const scepPin = (spec: CaSpec, status: Record<string, unknown>) => spec.caFingerprint ?? (status.trustedOnFirstUse as string | undefined);

/** The SCEP CA certificate, checked against the pin. */
async function scepCaCertificate(ctx: ProviderContext, d: CaDesired, status: Record<string, unknown>): Promise<{ der: Buffer; caps: string[] }> {
  const url = String(d.spec.url);
  const transport = scepTransport(ctx, { ...d.id, spec: d.spec });
  const [caps, certs] = await withRetry(() => Promise.all([getCaCaps(url, transport), getCaCert(url, transport)]), unreachableError);
  // With an RA, GetCACert returns the RA certificates and the CA: the pinned one, else the self-issued one, else the last.
  const pin = scepPin(d.spec, status);
  if (pin) {
    const ca = certs.find((c) => fingerprint(c) === normal(pin));
    const pinned = d.spec.caFingerprint ? `the pinned caFingerprint ${normal(pin)}` : `the one first seen and trusted (${normal(pin)}; no caFingerprint is set)`;
    if (!ca) throw new ScepError(`the SCEP CA certificate's SHA-256 fingerprint is ${certs.map(fingerprint).join(' or ')}, not ${pinned}: check that ${url} is your CA, then commit its fingerprint as caFingerprint`, 'pin');
    return { der: ca, caps };
  }
  return { der: certs.find((c) => new X509Certificate(c).checkIssued(new X509Certificate(c))) ?? certs.at(-1)!, caps };
}

async function scepObserve(ctx: ProviderContext, d: CaDesired, status: Record<string, unknown>): Promise<Observed> {
  const gate = await connectorGate(ctx, d);
  if (gate) return gate;
  try {
    const { der, caps } = await scepCaCertificate(ctx, d, status);
    const info = certificateInfo(der);
    // Without a committed pin, the first CA seen is the one trusted from then on.
    const firstUse = d.spec.caFingerprint ? {} : { trustedOnFirstUse: status.trustedOnFirstUse ?? info.fingerprintSha256 };
    return {
      status: { certificate: toPem(der), fingerprintSha256: info.fingerprintSha256, notAfter: info.notAfter, capabilities: caps, ...firstUse },
      ready: { status: true, reason: 'CAServerReady', message: `SCEP CA "${info.subject}" answers at ${d.spec.url}` },
    };
  } catch (e) {
    if (e instanceof ScepError && e.kind === 'pin') {
      return { ready: { status: false, reason: 'CAFingerprintMismatch', message: e.message }, notices: [{ reason: 'CAFingerprintMismatch', severity: 'Error', message: e.message }] };
    }
    return unreachable('CAServerUnreachable', `SCEP CA ${d.spec.url}: ${messageOf(e)}`);
  }
}

/** The challenge is kept sealed: the configurations that enroll through this CA need it. */
function keptChallenge(d: CaDesired): Made {
  const challenge = secretOf(d, 'spec.challengeSecretRef');
  return challenge !== undefined ? { blobs: [{ purpose: 'challenge', value: Buffer.from(challenge) }] } : {};
}

export const scep: CaStrategy = {
  create: async (_ctx, d) => keptChallenge(d),
  update: async (_ctx, d) => keptChallenge(d),
  observe: (ctx, d, status) => scepObserve(ctx, d, status),
  // Its connector's agent dials the SCEP server: the gateway lets it reach only this URL.
  routes: (spec) => (spec.connectorRef && spec.url ? [{ connector: spec.connectorRef.name, url: spec.url }] : []),
  warnings(d) {
    return d.spec.caFingerprint
      ? []
      : ['no caFingerprint: the SCEP CA certificate first seen is trusted from then on (trust on first use), and a different one is refused; commit caFingerprint to pin it'];
  },
  async issuer(ctx, record) {
    const id = { tenant: record.tenant, kind: record.kind, name: record.name };
    const { spec, status } = record;
    const chain = chainOf(status);
    const challenge = await ctx.blob(id, 'challenge');
    if (!challenge || !chain[0]) return { waiting: `CertificateAuthority/${record.name} has no challenge or CA certificate yet` };
    return {
      key: String(status.fingerprintSha256),
      chain,
      issueAll: oneByOne(async (p, r) => {
        const key = await makeKey(p.keyAlgorithm);
        const csrDer = await certificationRequest({ subject: r.subject, key, challengePassword: challenge.toString(), subjectAltNames: r.subjectAltNames, extendedKeyUsage: p.extendedKeyUsage });
        const { certificate } = await enroll({ url: String(spec.url), csrDer, keyPkcs8: pkcs8(key), caFingerprint: scepPin(spec, status), transport: scepTransport(ctx, { ...id, spec }) });
        return { certificate, pkcs8: pkcs8(key) };
      }),
    };
  },
};
