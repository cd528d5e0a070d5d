// SAML 2.0 metadata: reading an identity provider's (entity ID, single sign-on endpoints, signing
// certificates) and writing the service provider's that administrators give their IdP.
import { xmlReader } from '../util/xml.js';
import { certificateInfo, type CertificateInfo } from '../pki/x509.js';
import { DAY } from '../api/duration.js';

export interface IdpMetadata {
  entityId: string;
  singleSignOnServices: { binding: string; location: string }[];
  /** Certificates the IdP signs assertions with (KeyDescriptor use="signing", or without use). */
  signingCertificates: CertificateInfo[];
}

export class SamlMetadataError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
  }
}

const reader = xmlReader(['SingleSignOnService', 'IDPSSODescriptor', 'EntityDescriptor', 'KeyDescriptor', 'X509Certificate', 'X509Data']);

const text = (v: unknown): string => (typeof v === 'object' && v !== null ? String((v as Record<string, unknown>)['#text'] ?? '') : String(v ?? ''));

export function parseIdpMetadata(xml: string): IdpMetadata {
  const read = reader.read(xml);
  if ('error' in read) throw new SamlMetadataError(`not well-formed XML: ${read.error}`, read.line);
  const doc = read.doc;
  const entity = doc.EntityDescriptor?.[0] ?? doc.EntitiesDescriptor?.EntityDescriptor?.[0];
  if (!entity) throw new SamlMetadataError('not SAML 2.0 metadata: expected an <EntityDescriptor>');
  const entityId = entity['@entityID'];
  if (!entityId) throw new SamlMetadataError('the EntityDescriptor has no entityID');
  const idp = entity.IDPSSODescriptor?.[0];
  if (!idp) throw new SamlMetadataError('the metadata describes no identity provider (no <IDPSSODescriptor>)');
  const singleSignOnServices = (idp.SingleSignOnService ?? []).map((s: Record<string, string>) => ({ binding: s['@Binding'] ?? '', location: s['@Location'] ?? '' }));
  if (!singleSignOnServices.length) throw new SamlMetadataError('the identity provider declares no SingleSignOnService endpoint');
  const bad = singleSignOnServices.find((s: { location: string }) => !/^https:\/\/[^/]/i.test(s.location));
  if (bad) throw new SamlMetadataError(`SingleSignOnService Location "${bad.location}" is not an https:// URL`);
  const signingCertificates: CertificateInfo[] = [];
  for (const key of (idp.KeyDescriptor ?? []) as Record<string, unknown>[]) {
    if (key['@use'] !== undefined && key['@use'] !== 'signing') continue;
    const data = ((key.KeyInfo as Record<string, unknown> | undefined)?.X509Data ?? []) as Record<string, unknown>[];
    for (const pem of data.flatMap((d) => (d.X509Certificate ?? []) as unknown[])) {
      try {
        signingCertificates.push(certificateInfo(Buffer.from(text(pem).replace(/\s+/g, ''), 'base64')));
      } catch {
        throw new SamlMetadataError('a signing KeyDescriptor holds an X509Certificate that is not a valid certificate');
      }
    }
  }
  if (!signingCertificates.length) throw new SamlMetadataError('the identity provider declares no signing certificate (<KeyDescriptor use="signing"> with an X509Certificate)');
  return { entityId: String(entityId), singleSignOnServices, signingCertificates };
}

/** The signing certificates' state at `now`: Ready needs one in force; a notice before they run out. Pure. */
export function signingCertificateProblem(certs: CertificateInfo[], now: Date, warnDays = 30): { reason: string; message: string; blocking: boolean } | undefined {
  const valid = certs.filter((c) => Date.parse(c.notBefore) <= now.getTime() && now.getTime() < Date.parse(c.notAfter));
  const names = (list: CertificateInfo[]) => list.map((c) => `"${c.subject}" (until ${c.notAfter.slice(0, 10)})`).join(', ');
  if (!valid.length) return { reason: 'IdpCertificateExpired', message: `no signing certificate of the identity provider is in force: ${names(certs)}; ask for its current metadata`, blocking: true };
  const last = Math.max(...valid.map((c) => Date.parse(c.notAfter)));
  if (last - now.getTime() < warnDays * DAY) return { reason: 'IdpCertificateExpiring', message: `the identity provider's signing certificates expire within ${warnDays} days: ${names(valid)}`, blocking: false };
  return undefined;
}

const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export interface ServiceProvider {
  entityId: string;
  assertionConsumerServiceUrl: string;
  singleLogoutUrl: string;
  /** DER of the certificate the service provider signs requests with. */
  signingCertificate: Buffer;
}

export function serviceProviderUrls(serviceUrl: string, tenant: string) {
  const base = `${serviceUrl.replace(/\/$/, '')}/saml/${encodeURIComponent(tenant)}`;
  return { entityId: `${base}/metadata`, assertionConsumerServiceUrl: `${base}/acs`, singleLogoutUrl: `${base}/slo` };
}

export function serviceProviderMetadata(sp: ServiceProvider): string {
  const cert = sp.signingCertificate.toString('base64');
  return `<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${escapeXml(sp.entityId)}">
  <md:SPSSODescriptor AuthnRequestsSigned="true" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${escapeXml(sp.singleLogoutUrl)}"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${escapeXml(sp.assertionConsumerServiceUrl)}" index="0" isDefault="true"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`;
}
