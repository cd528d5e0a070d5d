// SqlProvisioning (seed 003): users exported into an application's SQL database, configured from a
// Microsoft Identity Manager Generic SQL management-agent export.
import { z } from 'zod';
import { defineKind, refsOf } from '../kind.js';
import { dnsName, duration, fileSource, policies, secretRef, statusBase, uniqueBy } from '../common.js';

const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const identifier = z.string().regex(SQL_IDENTIFIER, { error: 'must be a SQL identifier: letters, digits and _, optionally schema.name' });

export const sqlProvisioningSpec = z
  .strictObject({
    managementAgentExport: fileSource.describe('The Generic SQL (GSQL) management-agent export, XML, from MIM Synchronization Service.'),
    objectType: z.string().min(1).default('User').describe('Object type of the export to provision (a user or person type).'),
    connection: z
      .strictObject({
        driver: z.enum(['PostgreSQL', 'MySQL', 'SQLite']),
        urlSecretRef: secretRef.describe('Connection URL, with its credentials, e.g. postgres://user:pass@host/db.'),
      })
      .describe('The application database.'),
    table: identifier.describe('Table the users are written to.'),
    anchor: z
      .strictObject({ attribute: z.string().min(1).describe('Anchor attribute of the export.'), column: identifier })
      .describe('The anchor: which export attribute identifies a row, and its column.'),
    attributeMapping: z
      .array(
        z.strictObject({
          attribute: z.string().min(1).describe('Attribute of the export (single-valued string).'),
          column: identifier,
          from: z.string().min(1).describe('User field or custom attribute that fills it: userUPN, userEmailAddress, firstName, lastName, displayName, or a custom attribute name.'),
        }),
      )
      .min(1),
    sourceRef: z
      .strictObject({ kind: z.enum(['EntraIdSource', 'LdapSource']), name: dnsName })
      .describe('The identity source whose users are provisioned.'),
    syncInterval: duration.default('1h'),
    enabled: z.boolean().default(true),
    ...policies('Delete'),
  })
  .superRefine((spec, ctx) => {
    uniqueBy(spec.attributeMapping, (m) => m.column, ctx, ['attributeMapping'], 'column');
    uniqueBy(spec.attributeMapping, (m) => m.attribute, ctx, ['attributeMapping'], 'attribute');
  });

export const sqlProvisioningStatus = z.strictObject({
  ...statusBase,
  rowCount: z.number().int().optional(),
  lastSyncTime: z.string().optional(),
  lastError: z.string().optional(),
});

export type SqlProvisioningSpec = z.output<typeof sqlProvisioningSpec>;

export const SqlProvisioning = defineKind({
  kind: 'SqlProvisioning',
  plural: 'sqlprovisionings',
  shortNames: ['sqlprov'],
  description: 'Users provisioned into an application SQL database, configured from a MIM Generic SQL export.',
  spec: sqlProvisioningSpec,
  status: sqlProvisioningStatus,
  printerColumns: [
    { name: 'Table', type: 'string', jsonPath: '.spec.table' },
    { name: 'Rows', type: 'integer', jsonPath: '.status.rowCount' },
  ],
  references: (spec) => refsOf({ path: ['spec', 'sourceRef'], kind: spec.sourceRef.kind, name: spec.sourceRef.name }),
  files: (spec) => [
    {
      path: ['spec', 'managementAgentExport'],
      source: spec.managementAgentExport,
      content: 'gsql-export',
      objectType: spec.objectType,
      attributes: [
        { path: ['spec', 'anchor', 'attribute'], name: spec.anchor.attribute },
        ...spec.attributeMapping.map((m, i) => ({ path: ['spec', 'attributeMapping', i, 'attribute'], name: m.attribute })),
      ],
    },
  ],
});
