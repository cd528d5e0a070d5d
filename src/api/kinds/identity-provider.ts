// IdentityProvider (seed 002): who authenticates users. One per tenant.
import { z } from 'zod';
import { defineKind, refsOf, type FileField } from '../kind.js';
import { fileSource, httpsUrl, policies, ref, statusBase } from '../common.js';

export const identityProviderSpec = z
  .strictObject({
    type: z
      .enum(['EntraId', 'Adfs', 'GenericSaml2'])
      .describe('EntraId: Entra ID as source and for authentication. Adfs: Entra ID as source, ADFS for authentication. GenericSaml2: any other SAML 2.0 IdP.'),
    displayName: z.string().optional(),
    entraIdSourceRef: ref('EntraIdSource').optional().describe('The Entra ID source (EntraId, Adfs); defaults to the tenant\'s only one.'),
    metadata: fileSource.optional().describe('SAML 2.0 metadata of the IdP (Adfs, GenericSaml2).'),
    metadataUrl: httpsUrl.optional().describe('Where to fetch the SAML 2.0 metadata, instead of a file.'),
    serviceUrl: httpsUrl
      .optional()
      .describe("Public address of the MDM service for this tenant; the service provider's entity ID and assertion consumer service live under it, and its metadata is published once it is set."),
    ...policies(),
  })
  .superRefine((spec, ctx) => {
    if (spec.type === 'EntraId' && (spec.metadata || spec.metadataUrl)) {
      ctx.addIssue({ code: 'custom', path: [spec.metadata ? 'metadata' : 'metadataUrl'], message: 'type EntraId takes its metadata from Entra ID; metadata applies to Adfs and GenericSaml2' });
    }
    if (spec.type !== 'EntraId' && !spec.metadata === !spec.metadataUrl) {
      ctx.addIssue({ code: 'custom', path: [], message: `type ${spec.type} requires exactly one of metadata or metadataUrl` });
    }
    if (spec.type === 'GenericSaml2' && spec.entraIdSourceRef) {
      ctx.addIssue({ code: 'custom', path: ['entraIdSourceRef'], message: 'entraIdSourceRef applies to types EntraId and Adfs' });
    }
  });

export const identityProviderStatus = z.strictObject({
  ...statusBase,
  entityId: z.string().optional(),
  singleSignOnUrls: z.array(z.string()).optional(),
  signingCertificates: z.array(z.strictObject({ subject: z.string(), fingerprintSha256: z.string(), notAfter: z.string() })).optional(),
  serviceProviderEntityId: z.string().optional(),
  serviceProviderMetadata: z.string().optional(),
});

export type IdentityProviderSpec = z.output<typeof identityProviderSpec>;

export const IdentityProvider = defineKind({
  kind: 'IdentityProvider',
  plural: 'identityproviders',
  shortNames: ['idp'],
  description: 'The identity provider that authenticates users: Entra ID, ADFS or a generic SAML 2.0 IdP.',
  spec: identityProviderSpec,
  status: identityProviderStatus,
  printerColumns: [{ name: 'Type', type: 'string', jsonPath: '.spec.type' }],
  references: (spec) => refsOf(spec.entraIdSourceRef && { path: ['spec', 'entraIdSourceRef'], kind: 'EntraIdSource', name: spec.entraIdSourceRef.name }),
  files: (spec): FileField[] => (spec.metadata ? [{ path: ['spec', 'metadata'], source: spec.metadata, content: 'saml-metadata' }] : []),
});
