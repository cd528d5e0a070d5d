// SqlProvisioning (seed 003): users exported into an application's SQL database, configured from a
// Microsoft Identity Manager Generic SQL management-agent export.
import { z } from 'zod';
import { defineKind, refsOf } from '../kind.js';
import { deletionThreshold, dnsName, duration, fileSource, policies, ref, secretRef, statusBase, uniqueBy } from '../common.js';

const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/;
const identifier = z.string().regex(SQL_IDENTIFIER, { error: 'must be a SQL identifier: letters, digits and _, optionally schema.name' });

const from = z
  .string()
  .min(1)
  .describe('User field or custom attribute that fills it: uid (the user\'s stable id in its source), userUPN, userEmailAddress, firstName, lastName, displayName, or a custom attribute name.');

export const sqlProvisioningSpec = z
  .strictObject({
    managementAgentExport: fileSource.describe('The Generic SQL (GSQL) management-agent export, XML, from MIM Synchronization Service.'),
    objectType: z.string().min(1).default('User').describe('Object type of the export to provision (a user or person type).'),
    connection: z
      .strictObject({
        driver: z.enum(['PostgreSQL', 'MySQL', 'SQLite']).describe('MySQL covers MariaDB.'),
        urlSecretRef: secretRef.describe('Connection URL, with its credentials: postgres://user:pass@host/db, mysql://user:pass@host/db or sqlite:PATH.'),
      })
      .describe('The application database.'),
    connectorRef: ref('Connector').optional().describe('Connector whose agent reaches the database inside the customer network.'),
    table: identifier.optional().describe("Table the users are written to; by default the export's (its Table/View method). It may add the schema: hr.users for users."),
    anchor: z
      .strictObject({
        attribute: z.string().min(1).optional().describe('Anchor attribute of the export; by default the one the export marks as anchor.'),
        column: identifier.optional().describe("Its column; by default the attribute's name."),
        from: from.default('uid'),
      })
      .default({ from: 'uid' })
      .describe('The anchor: the unique, unchanging column that identifies a row, and what fills it.'),
    attributeMapping: z
      .array(
        z.strictObject({
          attribute: z.string().min(1).describe('Attribute of the export (single-valued string).'),
          column: identifier.optional().describe("Its column; by default the attribute's name."),
          from,
        }),
      )
      .min(1),
    sourceRef: z
      .strictObject({ kind: z.enum(['EntraIdSource', 'LdapSource']), name: dnsName })
      .describe('The identity source whose users are provisioned.'),
    deprovision: z
      .strictObject({
        mode: z.enum(['Delete', 'SoftDelete']).default('Delete'),
        column: identifier.optional().describe('With SoftDelete: the column that marks a row deprovisioned.'),
        value: z.string().optional().describe('With SoftDelete: what it is set to.'),
        activeValue: z.string().optional().describe("With SoftDelete: what it holds while the user is in the source; by default a returning user's row gets NULL."),
      })
      .default({ mode: 'Delete' })
      .describe('What becomes of the row of a user who left the source: deleted, or marked (SoftDelete).'),
    adopt: z.boolean().default(false).describe('Take over rows already in the table whose anchor matches a user; otherwise they are left alone and reported.'),
    deletionThreshold: deletionThreshold.describe('A run that would deprovision more rows than either stops, changing nothing, until it is run with --allow-mass-delete.'),
    batchSize: z.number().int().min(1).max(5000).default(5000).describe('Row changes written per transaction.'),
    syncInterval: duration.default('1h'),
    enabled: z.boolean().default(true),
    ...policies('Delete'),
  })
  .superRefine((spec, ctx) => {
    uniqueBy(spec.attributeMapping, (m) => m.attribute, ctx, ['attributeMapping'], 'attribute');
    // Columns are compared once their defaults are known: the attribute's name.
    const columns = new Map<string, (string | number)[]>();
    const claim = (column: string | undefined, path: (string | number)[]) => {
      if (column === undefined) return;
      const other = columns.get(column);
      if (other) ctx.addIssue({ code: 'custom', path, message: `column "${column}" is already filled by spec.${other.join('.')}` });
      else columns.set(column, path);
    };
    claim(spec.anchor.column ?? spec.anchor.attribute, ['anchor', spec.anchor.column ? 'column' : 'attribute']);
    spec.attributeMapping.forEach((m, i) => {
      if (m.column === undefined && !SQL_IDENTIFIER.test(m.attribute)) {
        ctx.addIssue({ code: 'custom', path: ['attributeMapping', i, 'attribute'], message: `"${m.attribute}" is not a SQL identifier: give its column`, params: { hint: 'add column: <name>' } });
      }
      claim(m.column ?? m.attribute, ['attributeMapping', i, m.column ? 'column' : 'attribute']);
    });
    const d = spec.deprovision;
    if (d.mode === 'SoftDelete') {
      for (const field of ['column', 'value'] as const) {
        if (d[field] === undefined) ctx.addIssue({ code: 'custom', path: ['deprovision'], message: `mode SoftDelete needs a ${field}`, params: { hint: 'deprovision: { mode: SoftDelete, column: <column>, value: <what marks a row deprovisioned> }' } });
      }
      claim(d.column, ['deprovision', 'column']);
    } else {
      for (const field of ['column', 'value', 'activeValue'] as const) {
        if (d[field] !== undefined) ctx.addIssue({ code: 'custom', path: ['deprovision', field], message: `${field} is for mode SoftDelete; mode Delete deletes the row` });
      }
    }
    if (spec.connectorRef && spec.connection.driver === 'SQLite') {
      ctx.addIssue({ code: 'custom', path: ['connectorRef'], message: 'a SQLite database is a file on this machine: it is not reached through a connector', params: { hint: 'remove connectorRef, or use PostgreSQL or MySQL' } });
    }
  });

export const sqlProvisioningStatus = z.strictObject({
  ...statusBase,
  rowCount: z.number().int().optional().describe('Rows this resource provisioned that the table holds.'),
  lastSyncTime: z.string().optional(),
  lastSyncDuration: z.string().optional(),
  lastError: z.string().optional(),
  lastRun: z
    .strictObject({
      result: z.enum(['Done', 'Unreachable', 'SchemaMismatch', 'Blocked', 'SourceNotReady']),
      inserted: z.number().int(),
      updated: z.number().int(),
      deleted: z.number().int(),
      failed: z.number().int(),
      failedAnchors: z.array(z.string()).optional().describe('The first anchors that failed, with why.'),
      conflicts: z.number().int().describe('Rows of users not written by this resource, left alone (adopt: false).'),
      conflictAnchors: z.array(z.string()).optional(),
      missingValues: z.number().int().describe('Users lacking a mapped value, written as NULL.'),
      missingAnchor: z.number().int().describe('Users without an anchor value, not provisioned.'),
      deletionsHeld: z.number().int().optional().describe('Rows of users who left, kept because the source cannot be trusted to have lost them.'),
    })
    .optional()
    .describe('What the last run did.'),
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
  references: (spec) =>
    refsOf(
      { path: ['spec', 'sourceRef'], kind: spec.sourceRef.kind, name: spec.sourceRef.name },
      spec.connectorRef && { path: ['spec', 'connectorRef'], kind: 'Connector', name: spec.connectorRef.name },
    ),
  files: (spec) => [
    {
      path: ['spec', 'managementAgentExport'],
      source: spec.managementAgentExport,
      content: 'gsql-export',
      objectType: spec.objectType,
      table: spec.table,
      anchor: spec.anchor.attribute,
      attributes: spec.attributeMapping.map((m, i) => ({ path: ['spec', 'attributeMapping', i, 'attribute'], name: m.attribute })),
    },
  ],
});
