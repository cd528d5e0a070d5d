// IdentityProvider: the IdP's SAML metadata checked (entity ID, endpoints, signing certificates in
// force), and the service provider's own signing key and metadata, published in status for the
// administrator to give the IdP (mdmops idp metadata).
import { IdentityProvider } from '../../api/index.js';
import { createPublicKey } from 'node:crypto';
import type { Desired } from '../../config/desired.js';
import type { Observed, ProviderContext } from '../../engine/provider.js';
import { parseIdpMetadata, serviceProviderMetadata, serviceProviderUrls, signingCertificateProblem, type IdpMetadata } from '../../identity/saml-metadata.js';
import { issueCertificate, KeyUsage } from '../../pki/certificate.js';
import { makeKey, pkcs8 } from '../../pki/keys.js';
import { subjectName } from '../../pki/name.js';
import { fetchText } from '../../net/outbound.js';
import { defineProvider, unreachable, type Made } from '../record.js';
import { messageOf } from '../../util/message-of.js';
import { DAY } from '../../api/duration.js';

const SP_KEY = 'sp-key';
const SP_CERTIFICATE = 'sp-certificate';
const SP_VALIDITY_MS = 10 * 365 * DAY;

/** SAML metadata documents are a few KiB; 1 MiB leaves room for many signing certificates. */
const METADATA_LIMITS = { maxBytes: 1 << 20, timeoutMs: 15_000 };

async function idpMetadata(ctx: ProviderContext, d: Desired): Promise<string | undefined> {
  const file = d.files['spec.metadata'];
  if (file) return file.bytes.toString('utf8');
  if (typeof d.spec.metadataUrl !== 'string') return undefined;
  return fetchText(d.spec.metadataUrl, ctx.outbound, METADATA_LIMITS);
}

function metadataStatus(m: IdpMetadata) {
  return {
    entityId: m.entityId,
    singleSignOnUrls: m.singleSignOnServices.map((s) => s.location),
    signingCertificates: m.signingCertificates.map((c) => ({ subject: c.subject, fingerprintSha256: c.fingerprintSha256, notAfter: c.notAfter })),
  };
}

async function observe(ctx: ProviderContext, d: Desired, status: Record<string, unknown>): Promise<Observed> {
  let xml: string | undefined;
  try {
    xml = await idpMetadata(ctx, d);
  } catch (e) {
    return unreachable('IdpMetadataUnreachable', `the identity provider's metadata cannot be fetched: ${messageOf(e)}`);
  }
  const sp = status.serviceProviderMetadata ? '' : '; set spec.serviceUrl to publish the service provider metadata';
  if (xml === undefined) return { ready: { status: true, reason: 'Recorded', message: `Entra ID authenticates users${sp}` } };
  let m: IdpMetadata;
  try {
    m = parseIdpMetadata(xml);
  } catch (e) {
    const message = `the identity provider's metadata is not usable: ${messageOf(e)}`;
    return { ready: { status: false, reason: 'IdpMetadataInvalid', message }, notices: [{ reason: 'IdpMetadataInvalid', severity: 'Error', message }] };
  }
  const problem = signingCertificateProblem(m.signingCertificates, new Date());
  const notices = problem ? [{ reason: problem.reason, severity: problem.blocking ? ('Error' as const) : ('Warning' as const), message: problem.message }] : [];
  const ready = problem?.blocking
    ? { status: false, reason: problem.reason, message: problem.message }
    : { status: true, reason: 'MetadataValid', message: `${m.entityId}: ${m.singleSignOnServices.length} sign-on endpoints, ${m.signingCertificates.length} signing certificates${sp}` };
  return { status: metadataStatus(m), ready, notices };
}

/** The service provider's signing key and certificate, made once; its metadata whenever serviceUrl is set. */
async function makeServiceProvider(ctx: ProviderContext, d: Desired): Promise<Made> {
  let key = await ctx.blob(d.id, SP_KEY);
  let certificate = await ctx.blob(d.id, SP_CERTIFICATE);
  const blobs: Made['blobs'] = [];
  if (!key || !certificate) {
    const made = await makeKey('RSA-2048');
    const name = subjectName({ commonName: `mdmops SAML service provider ${d.id.tenant}` });
    const now = Date.now();
    certificate = await issueCertificate({
      subject: name,
      publicKey: createPublicKey(made),
      issuer: { name, key: made, publicKey: createPublicKey(made) },
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + SP_VALIDITY_MS),
      keyUsage: [KeyUsage.digitalSignature],
    });
    key = pkcs8(made);
    blobs.push({ purpose: SP_KEY, value: key }, { purpose: SP_CERTIFICATE, value: certificate });
  }
  if (typeof d.spec.serviceUrl !== 'string') return { blobs, status: { serviceProviderEntityId: undefined, serviceProviderMetadata: undefined } };
  const urls = serviceProviderUrls(d.spec.serviceUrl, d.id.tenant);
  return { blobs, status: { serviceProviderEntityId: urls.entityId, serviceProviderMetadata: serviceProviderMetadata({ ...urls, signingCertificate: certificate }) } };
}

export const identityProviderProvider = defineProvider(IdentityProvider, {
  observe,
  create: makeServiceProvider,
  update: makeServiceProvider,
  async pending(ctx, d, record) {
    return record && !(await ctx.store.getBlob(d.id, SP_CERTIFICATE)) ? ["make the service provider's SAML signing key"] : [];
  },
});
