// NonScepOnPremises CA: an on-premises CA server (OpenTrust/IDnomic) reached by mutual TLS with the
// customer's authentication certificate. Its connectorRef is recorded and waited for, but its server
// is reached from here, not through the connector. It issues through its own service, not mdmops.
import { expired } from '../../pki/renewal.js';
import { X509Certificate } from 'node:crypto';
import type { Observed, ProviderContext } from '../../engine/provider.js';
import { toPem } from '../../pki/certificate.js';
import { readPkcs12 } from '../../pki/pkcs12.js';
import { certificateInfo, readCertificates } from '../../pki/x509.js';
import { checkMutualTls } from '../../net/mtls.js';
import { messageOf } from '../../util/message-of.js';
import { unreachable } from '../record.js';
import { connectorGate, secretOf } from './servers.js';
import type { CaDesired, CaStrategy } from './strategy.js';

async function nonScepObserve(ctx: ProviderContext, d: CaDesired): Promise<Observed> {
  const gate = await connectorGate(ctx, d);
  if (gate) return gate;
  const password = secretOf(d, 'spec.passwordSecretRef');
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
  const gone = expired({ now: Date.now(), notAfter: Date.parse(info.notAfter), what: `the authentication certificate "${info.subject}"`, warnBeforeMs: 0 });
  if (gone) return { status, ...invalid(gone.message) };
  const tls = await checkMutualTls({
    url: String(d.spec.url),
    key: opened.key,
    certificate: opened.certificates.map((c) => toPem(c)).join(''),
    ca: readCertificates(chain.bytes).map((c) => toPem(c.der)).join(''),
  });
  if (!tls.ok) return { status, ...unreachable('CAServerUnreachable', `CA server ${d.spec.url}: ${tls.message}`) };
  return { status, ready: { status: true, reason: 'CAServerReady', message: tls.message } };
}

export const nonScep: CaStrategy = {
  observe: (ctx, d) => nonScepObserve(ctx, d),
  issuer: async () => ({ waiting: `a NonScepOnPremises CA issues its certificates through its own service; mdmops does not issue them` }),
};
