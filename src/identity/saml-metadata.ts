// SAML 2.0 metadata of an identity provider: the parts validation relies on.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface IdpMetadata {
  entityId: string;
  singleSignOnServices: { binding: string; location: string }[];
}

export class SamlMetadataError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
  }
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  processEntities: false,
  isArray: (name) => ['SingleSignOnService', 'IDPSSODescriptor', 'EntityDescriptor'].includes(name),
});

export function parseIdpMetadata(xml: string): IdpMetadata {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new SamlMetadataError(`not well-formed XML: ${valid.err.msg}`, valid.err.line);
  const doc = parser.parse(xml);
  const entity = doc.EntityDescriptor?.[0] ?? doc.EntitiesDescriptor?.EntityDescriptor?.[0];
  if (!entity) throw new SamlMetadataError('not SAML 2.0 metadata: expected an <EntityDescriptor>');
  const entityId = entity['@entityID'];
  if (!entityId) throw new SamlMetadataError('the EntityDescriptor has no entityID');
  const idp = entity.IDPSSODescriptor?.[0];
  if (!idp) throw new SamlMetadataError('the metadata describes no identity provider (no <IDPSSODescriptor>)');
  const singleSignOnServices = (idp.SingleSignOnService ?? []).map((s: Record<string, string>) => ({ binding: s['@Binding'] ?? '', location: s['@Location'] ?? '' }));
  if (!singleSignOnServices.length) throw new SamlMetadataError('the identity provider declares no SingleSignOnService endpoint');
  return { entityId: String(entityId), singleSignOnServices };
}
