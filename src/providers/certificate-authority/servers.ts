// CAs that are servers: SCEP on-premises (RFC 8894), public cloud over ACME (RFC 8555), and the
// non-SCEP on-premises CA reached by mutual TLS. Reconcile checks that each answers as it should.
import { X509Certificate } from 'node:crypto';
import type { Desired } from '../../config/desired.js';
import type { Outcome, ProviderContext } from '../../engine/provider.js';
import { acmeAccount, AcmeError } from '../../pki/acme.js';
import { toPem } from '../../pki/certificate.js';
import { makeKey, pkcs8, privateKey } from '../../pki/keys.js';
import { readPkcs12 } from '../../pki/pkcs12.js';
import { getCaCaps, getCaCert, ScepError, httpTransportWith, type ScepTransport } from '../../pki/scep.js';
import { certificateInfo, readCertificates } from '../../pki/x509.js';
import { checkMutualTls } from '../../net/mtls.js';
import { guardedLookup, hostRefusal, type OutboundPolicy } from '../../net/outbound.js';
import { messageOf } from '../../util/message-of.js';
import { probeUrl } from '../../net/probe.js';
import { withRetry } from '../../net/retry.js';
import type { StoredRecord } from '../../store/types.js';
import { dependencyReady, throughConnector, unreachable, type Made } from '../record.js';

/**
 * How SCEP requests travel: through the CA's connector when it names one (its agent dials the
 * server inside the customer network), else from here, where the outbound policy lets them.
 */
export function scepTransport(ctx: ProviderContext, ca: { tenant: string; kind: string; name: string; spec: Record<string, unknown> }): ScepTransport {
  const connector = ca.spec.connectorRef as { name: string } | undefined;
  if (connector) return httpTransportWith({ dial: throughConnector(ctx, ca, connector.name) });
  const transport = httpTransportWith({ lookup: guardedLookup(ctx.outbound) });
  return {
    request(method, url, body) {
      const refused = hostRefusal(ctx.outbound, new URL(url).hostname);
      return refused ? Promise.reject(new ScepError(refused, 'unreachable')) : transport.request(method, url, body);
    },
  };
}

const secret = (d: Desired, path: string) => d.secrets[path]?.value;
const unreachableError = (e: unknown) => (e instanceof ScepError || e instanceof AcmeError) && e.kind === 'unreachable';
const fingerprint = (der: Buffer) => certificateInfo(der).fingerprintSha256;
const normal = (fp: string) => fp.replace(/:/g, '').toLowerCase();

async function connectorGate(ctx: ProviderContext, d: Desired): Promise<Partial<Outcome> | undefined> {
  const connector = d.spec.connectorRef as { name: string } | undefined;
  return connector && dependencyReady(ctx, { tenant: d.id.tenant, kind: 'Connector', name: connector.name }, 'Connector');
}

// --- SCEP ---------------------------------------------------------------------------------

/**
 * The pin a SCEP CA is held to: the committed caFingerprint, else the fingerprint of the CA
 * certificate first seen (trust on first use), kept in status.
 */
export const scepPin = (spec: Record<string, unknown>, status: Record<string, unknown>) => (spec.caFingerprint as string | undefined) ?? (status.trustedOnFirstUse as string | undefined);

/** The SCEP CA certificate, checked against the pin. */
export async function scepCaCertificate(ctx: ProviderContext, d: Desired, status: Record<string, unknown>): Promise<{ der: Buffer; caps: string[] }> {
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

async function scepInspect(ctx: ProviderContext, d: Desired, status: Record<string, unknown>): Promise<Partial<Outcome>> {
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

// --- ACME ---------------------------------------------------------------------------------

export function acmeAccountInput(spec: Record<string, unknown>, outbound: OutboundPolicy, accountKey: Buffer, hmacKey?: string) {
  const eab = spec.externalAccountBinding as { keyId: string } | undefined;
  return {
    outbound,
    directoryUrl: String(spec.directoryUrl),
    email: String(spec.email),
    termsOfServiceAgreed: spec.termsOfServiceAgreed === true,
    accountKeyPem: privateKey(accountKey).export({ type: 'pkcs8', format: 'pem' }) as string,
    ...(eab && hmacKey ? { externalAccountBinding: { keyId: eab.keyId, hmacKey } } : {}),
  };
}

async function acmeReconcile(ctx: ProviderContext, d: Desired, record: StoredRecord | undefined): Promise<Made> {
  const sealed = record ? await ctx.blob(d.id, 'account-key') : undefined;
  const accountKey = sealed ?? pkcs8(await makeKey(String(d.spec.keyAlgorithm)));
  const hmacKey = secret(d, 'spec.externalAccountBinding.hmacKeySecretRef');
  if (d.spec.externalAccountBinding && !hmacKey) {
    return { blobs: sealed ? [] : [{ purpose: 'account-key', value: accountKey }] }; // SecretNotFound says the rest
  }
  const blobs = sealed ? [] : [{ purpose: 'account-key', value: accountKey }];
  try {
    const { accountUrl } = await withRetry(() => acmeAccount(acmeAccountInput(d.spec, ctx.outbound, accountKey, hmacKey)), unreachableError);
    return { blobs, status: { accountUrl, accountError: undefined } };
  } catch (e) {
    // Not Ready, saying why; registered at a later apply.
    if (unreachableError(e)) return { blobs, status: { accountError: messageOf(e) } };
    throw e;
  }
}

async function acmeInspect(ctx: ProviderContext, d: Desired, status: Record<string, unknown>): Promise<Partial<Outcome>> {
  const url = String(d.spec.directoryUrl);
  const probe = await probeUrl(url, ctx.outbound);
  if (!probe.ok) return unreachable('CAServerUnreachable', `ACME directory ${url} cannot be reached (${probe.message})`);
  if (!status.accountUrl) {
    const message = status.accountError ? `the ACME account could not be registered (${String(status.accountError)}); it is tried again at the next apply` : 'the ACME account is registered at apply';
    return { ready: { status: false, reason: 'AccountPending', message } };
  }
  return { ready: { status: true, reason: 'AccountReady', message: `ACME account ${status.accountUrl}` } };
}

// --- Non-SCEP on-premises -----------------------------------------------------------------

async function nonScepInspect(ctx: ProviderContext, d: Desired): Promise<Partial<Outcome>> {
  const gate = await connectorGate(ctx, d);
  if (gate) return gate;
  const password = secret(d, 'spec.passwordSecretRef');
  const p12 = d.files['spec.authenticationCertificate'];
  const chain = d.files['spec.tlsCaChain'];
  if (password === undefined || !p12 || !chain) return {}; // a missing secret is reported as SecretNotFound
  const invalid = (message: string) => ({ ready: { status: false, reason: 'AuthenticationCertificateInvalid', message }, notices: [{ reason: 'AuthenticationCertificateInvalid', severity: 'Error' as const, message }] });
  let opened: ReturnType<typeof readPkcs12>;
  try {
    opened = readPkcs12(p12.bytes, password);
  } catch (e) {
    return invalid(`cannot open spec.authenticationCertificate (${p12.name}): ${messageOf(e)}; check the secret passwordSecretRef names`);
  }
  const leaf = opened.certificates.find((c) => opened.key && new X509Certificate(c).checkPrivateKey(opened.key));
  if (!opened.key || !leaf) return invalid(`spec.authenticationCertificate (${p12.name}) holds no certificate with its private key`);
  const info = certificateInfo(leaf);
  if (info.version !== 3) return invalid(`spec.authenticationCertificate (${p12.name}) is an X.509 v${info.version} certificate; only v3 is accepted`);
  const status = { authentication: { subject: info.subject, notAfter: info.notAfter, fingerprintSha256: info.fingerprintSha256 } };
  if (Date.parse(info.notAfter) <= Date.now()) return { status, ...invalid(`the authentication certificate "${info.subject}" expired on ${info.notAfter}`) };
  const tls = await checkMutualTls({
    url: String(d.spec.url),
    key: opened.key,
    certificate: opened.certificates.map((c) => toPem(c)).join(''),
    ca: readCertificates(chain.bytes).map((c) => toPem(c.der)).join(''),
  });
  if (!tls.ok) return { status, ...unreachable('CAServerUnreachable', `CA server ${d.spec.url}: ${tls.message}`) };
  return { status, ready: { status: true, reason: 'CAServerReady', message: tls.message } };
}

export const serverCa = {
  async reconcile(ctx: ProviderContext, d: Desired, record: StoredRecord | undefined): Promise<Made> {
    if (d.spec.type === 'PublicCloud') return acmeReconcile(ctx, d, record);
    // The challenge is kept sealed: the configurations that enroll through this CA need it.
    const challenge = secret(d, 'spec.challengeSecretRef');
    return d.spec.type === 'ScepOnPremises' && challenge !== undefined ? { blobs: [{ purpose: 'challenge', value: Buffer.from(challenge) }] } : {};
  },
  inspect(ctx: ProviderContext, d: Desired, status: Record<string, unknown>): Promise<Partial<Outcome>> {
    if (d.spec.type === 'ScepOnPremises') return scepInspect(ctx, d, status);
    if (d.spec.type === 'PublicCloud') return acmeInspect(ctx, d, status);
    return nonScepInspect(ctx, d);
  },
  async pending(d: Desired, record: StoredRecord | undefined): Promise<string[]> {
    return d.spec.type === 'PublicCloud' && record && !record.status.accountUrl ? ['register the ACME account'] : [];
  },
};
