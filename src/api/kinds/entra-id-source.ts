// EntraIdSource (seed 002): users and groups synced from Microsoft Entra ID through Graph delta queries.
import { z } from 'zod';
import { defineKind, refsOf } from '../kind.js';
import { customAttribute, deletionThreshold, duration, httpsUrl, policies, secretRef, syncStatus, uniqueBy } from '../common.js';

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const DOMAIN = /^([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?\.)+[a-zA-Z]{2,}$/;

export const entraIdSourceSpec = z
  .strictObject({
    displayName: z.string().min(1).describe('Entra ID name shown to administrators.'),
    tenantId: z
      .string()
      .refine((s) => GUID.test(s) || DOMAIN.test(s), { error: 'must be a directory (tenant) ID GUID or a domain such as contoso.onmicrosoft.com' }),
    clientId: z.string().regex(GUID, { error: 'must be the application (client) ID, a GUID' }),
    clientSecretRef: secretRef.optional().describe('Client secret of the app registration.'),
    clientCertificate: z
      .strictObject({ certificateSecretRef: secretRef, privateKeySecretRef: secretRef })
      .optional()
      .describe('Certificate credential of the app registration, instead of a secret.'),
    cloud: z.enum(['AzurePublic', 'AzureUSGovernment', 'AzureChina']).default('AzurePublic').describe('National cloud; sets the authority and Graph endpoints.'),
    authorityHost: httpsUrl.optional().describe('Overrides the cloud authority host, e.g. https://login.microsoftonline.com.'),
    graphEndpoint: httpsUrl.optional().describe('Overrides the Graph endpoint, e.g. https://graph.microsoft.com.'),
    allowedAuthorityHosts: z
      .array(z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$|^\[[0-9a-f:.]+\]$/i, { error: 'must be a host name or address, without scheme or port' }))
      .optional()
      .describe("Hosts other than a Microsoft cloud's that authorityHost and graphEndpoint may name: in the modes tenants share, the app's credentials and tokens go nowhere else."),
    syncInterval: duration.default('1h'),
    deletionThreshold,
    enabled: z.boolean().default(true).describe('Enable this Entra ID instance.'),
    autoInviteUsers: z.boolean().default(false).describe('Invite each newly imported user to enrol, by e-mail.'),
    includeGuests: z.boolean().default(false).describe('Sync guests (userType Guest, a UPN with #EXT#) too; they have no mailbox or Apple ID of the tenant.'),
    includeDisabledUsers: z.boolean().default(false).describe('Sync disabled accounts (accountEnabled false: also room and equipment mailboxes) too; a user disabled later otherwise leaves.'),
    managedAppleIds: z
      .strictObject({
        mode: z.enum(['None', 'Schema']).default('None'),
        schema: z.enum(['UserEmailAddress', 'UserUPN']).optional().describe('What the managed Apple ID is built from, with mode Schema.'),
        includeAppleIdSubdomain: z.boolean().default(false).describe('user@appleid.example.com, to avoid clashing with existing Apple IDs.'),
      })
      .default({ mode: 'None', includeAppleIdSubdomain: false }),
    customAttributes: z.array(customAttribute).optional().describe('Attributes usable as ${name}; configure them alike on every source.'),
    ...policies('Delete'),
  })
  .superRefine((spec, ctx) => {
    if (!spec.clientSecretRef === !spec.clientCertificate) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one credential: clientSecretRef or clientCertificate' });
    }
    const apple = spec.managedAppleIds;
    if (apple.mode === 'Schema' && !apple.schema) {
      ctx.addIssue({ code: 'custom', path: ['managedAppleIds'], message: 'managedAppleIds mode Schema requires schema: UserEmailAddress or UserUPN' });
    }
    if (apple.mode === 'None' && (apple.schema || apple.includeAppleIdSubdomain)) {
      ctx.addIssue({ code: 'custom', path: ['managedAppleIds', 'mode'], message: 'schema and includeAppleIdSubdomain apply only to mode Schema' });
    }
    uniqueBy(spec.customAttributes, (a) => a.name, ctx, ['customAttributes'], 'custom attribute');
  });
export type EntraIdSourceSpec = z.output<typeof entraIdSourceSpec>;

export const EntraIdSource = defineKind({
  kind: 'EntraIdSource',
  plural: 'entraidsources',
  shortNames: ['entra'],
  description: 'Users and groups synced from Microsoft Entra ID.',
  spec: entraIdSourceSpec,
  status: z.strictObject(syncStatus),
  printerColumns: [{ name: 'Users', type: 'integer', jsonPath: '.status.userCount' }],
  references: () => refsOf(),
});
