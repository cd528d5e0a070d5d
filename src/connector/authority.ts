// The certificates of the connector tunnel. The gateway's TLS certificate comes from a CA the store
// makes and keeps (unless the administrator gives one); agents trust it through the pin their
// enrolment token carries. Each tenant has a CA of its own that signs its agents' client
// certificates: an agent's certificate names its tenant and connector, and only that tenant's CA
// can vouch for it.
import { createHash, createPublicKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { DAY } from '../api/duration.js';
import { CLOCK_SKEW_MS, issueCertificate, KeyUsage, OID, subjectOf, toPem, type San } from '../pki/certificate.js';
import { makeKey, pkcs8, privateKey } from '../pki/keys.js';
import { subjectName } from '../pki/name.js';
import { readCertificates } from '../pki/x509.js';
import type { MasterKey } from '../store/master-key.js';
import type { ResourceId, Store } from '../store/types.js';

/** What agents pin: SHA-256 of the CA certificate's SubjectPublicKeyInfo, hex (kubeadm's discovery hash). */
export function spkiPin(cert: X509Certificate): string {
  return createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

interface KeyPair {
  certificate: Buffer;
  key: Buffer;
}

const sealPair = (key: MasterKey, pair: KeyPair, aad: string) => key.seal(Buffer.from(JSON.stringify({ certificate: pair.certificate.toString('base64'), key: pair.key.toString('base64') })), aad);
function openPair(key: MasterKey, sealed: Buffer, aad: string): KeyPair {
  const j = JSON.parse(key.open(sealed, aad).toString()) as { certificate: string; key: string };
  return { certificate: Buffer.from(j.certificate, 'base64'), key: Buffer.from(j.key, 'base64') };
}

async function makeCa(commonName: string, years: number): Promise<KeyPair> {
  const key = await makeKey('ECDSA-P256');
  const name = subjectName({ commonName, organization: 'mdmops' });
  const now = Date.now();
  const certificate = await issueCertificate({
    issuer: { name, key, publicKey: createPublicKey(key) },
    subject: name,
    publicKey: createPublicKey(key),
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + years * 365 * DAY),
    ca: { pathLength: 0 },
    keyUsage: [KeyUsage.keyCertSign, KeyUsage.cRLSign],
  });
  return { certificate, key: pkcs8(key) };
}

async function issueFrom(ca: KeyPair, input: { subject: Buffer; publicKey: Buffer; days: number; sans: San[]; usage: string }): Promise<Buffer> {
  const issuer = new X509Certificate(ca.certificate);
  const now = Date.now();
  return issueCertificate({
    issuer: { name: subjectOf(ca.certificate), key: privateKey(ca.key), publicKey: issuer.publicKey },
    subject: input.subject,
    publicKey: input.publicKey,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + input.days * DAY),
    keyUsage: [KeyUsage.digitalSignature],
    extendedKeyUsage: [input.usage],
    subjectAltNames: input.sans,
  });
}

// --- the gateway's TLS certificate ---------------------------------------------------------------

const GATEWAY_CA = 'connector_gateway_ca';
const GATEWAY_TLS = 'connector_gateway_tls';
/** What one-shot commands read to put the gateway's pin in a token. */
export const GATEWAY_PIN = 'connector_gateway_pin';

export interface GatewayTls {
  /** PEM: the certificate and the chain above it. */
  cert: string;
  key: string;
  pin: string;
}

/**
 * The gateway's certificate, valid for `names` (host names and addresses): made by the store's own
 * CA and kept, made again when the names change or it nears its end.
 */
export async function storeGatewayTls(store: Store, key: MasterKey, names: string[]): Promise<GatewayTls> {
  const sealedCa = await store.getMeta(GATEWAY_CA);
  const ca = sealedCa ? openPair(key, Buffer.from(sealedCa, 'base64'), GATEWAY_CA) : await makeCa('mdmops connector gateway CA', 10);
  const sealedLeaf = await store.getMeta(GATEWAY_TLS);
  let leaf = sealedLeaf ? openPair(key, Buffer.from(sealedLeaf, 'base64'), GATEWAY_TLS) : undefined;
  const wanted = [...names].sort().join(',');
  if (!leaf || leafNames(leaf.certificate) !== wanted || Date.parse(new X509Certificate(leaf.certificate).validTo) - Date.now() < 30 * DAY) {
    const leafKey = await makeKey('ECDSA-P256');
    const certificate = await issueFrom(ca, {
      subject: subjectName({ commonName: names[0] ?? 'mdmops-gateway', organization: 'mdmops' }),
      publicKey: createPublicKey(leafKey).export({ type: 'spki', format: 'der' }),
      days: 365,
      sans: names.map((n) => ({ type: isIP(n) ? 'IP' : 'DNS', value: n })),
      usage: '1.3.6.1.5.5.7.3.1',
    });
    leaf = { certificate, key: pkcs8(leafKey) };
  }
  const pin = spkiPin(new X509Certificate(ca.certificate));
  await store.commit([
    ...(sealedCa ? [] : [{ op: 'setMeta' as const, key: GATEWAY_CA, value: sealPair(key, ca, GATEWAY_CA).toString('base64') }]),
    { op: 'setMeta', key: GATEWAY_TLS, value: sealPair(key, leaf, GATEWAY_TLS).toString('base64') },
    { op: 'setMeta', key: GATEWAY_PIN, value: pin },
  ]);
  return { cert: toPem(leaf.certificate) + toPem(ca.certificate), key: toPem(leaf.key, 'PRIVATE KEY'), pin };
}

/** The names a gateway certificate was made for, sorted: to tell whether it still fits. */
function leafNames(der: Buffer): string {
  const alt = new X509Certificate(der).subjectAltName ?? '';
  return alt
    .split(', ')
    .map((n) => n.replace(/^(DNS|IP Address):/, ''))
    .sort()
    .join(',');
}

/** A certificate the administrator gives (--gateway-cert): agents pin the last of its chain. */
export async function givenGatewayTls(store: Store, certPem: string, keyPem: string): Promise<GatewayTls> {
  const pin = spkiPin(new X509Certificate(readCertificates(Buffer.from(certPem)).at(-1)!.der));
  await store.commit([{ op: 'setMeta', key: GATEWAY_PIN, value: pin }]);
  return { cert: certPem, key: keyPem, pin };
}

// --- the tenant's connector CA and its agents' certificates --------------------------------------

const tenantCaId = (tenant: string): ResourceId => ({ tenant, kind: 'ConnectorAuthority', name: 'agents' });
const caAad = (tenant: string) => `connector-ca/${tenant}`;

/** The CA that signs the tenant's agents' certificates, made on first use. */
export async function tenantConnectorCa(store: Store, key: MasterKey, tenant: string): Promise<KeyPair> {
  const id = tenantCaId(tenant);
  const sealed = await store.getBlob(id, 'ca');
  if (sealed) return openPair(key, sealed, caAad(tenant));
  const ca = await makeCa(`mdmops connector CA of tenant ${tenant}`, 10);
  await store.commit([{ op: 'putBlob', id, purpose: 'ca', sealed: sealPair(key, ca, caAad(tenant)) }]);
  return ca;
}

/** The tenant's connector CA certificate, if it was made: what an agent's certificate must be signed by. */
export async function tenantCaCertificate(store: Store, key: MasterKey, tenant: string): Promise<X509Certificate | undefined> {
  const sealed = await store.getBlob(tenantCaId(tenant), 'ca');
  return sealed && new X509Certificate(openPair(key, sealed, caAad(tenant)).certificate);
}

const agentUri = (tenant: string, connector: string) => `urn:mdmops:connector:${tenant}:${connector}`;

/** An agent's client certificate for the key of its request. */
export function issueAgentCertificate(ca: KeyPair, tenant: string, connector: string, publicKey: Buffer, days: number): Promise<Buffer> {
  return issueFrom(ca, {
    subject: subjectName({ commonName: connector, organization: `mdmops tenant ${tenant}` }),
    publicKey,
    days,
    sans: [{ type: 'URI', value: agentUri(tenant, connector) }],
    usage: OID.clientAuth,
  });
}

/** The tenant and connector an agent's certificate names. */
export function agentOf(cert: X509Certificate): { tenant: string; connector: string } | undefined {
  const m = /URI:urn:mdmops:connector:([^:,]+):([^:,]+)/.exec(cert.subjectAltName ?? '');
  return m ? { tenant: m[1]!, connector: m[2]! } : undefined;
}

export const certificateSha256 = (cert: X509Certificate) => cert.fingerprint256.replace(/:/g, '').toLowerCase();
