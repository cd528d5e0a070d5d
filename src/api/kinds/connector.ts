// Connector (seed 000): an agent inside the customer network that carries LDAP and CA traffic.
import { z } from 'zod';
import { defineKind, refsOf } from '../kind.js';
import { policies, secretRef, statusBase, url } from '../common.js';
import { LOG_LEVELS } from '../log-level.js';


export const connectorSpec = z
  .strictObject({
    hosting: z
      .enum(['OnPremises', 'AWS'])
      .default('OnPremises')
      .describe('OnPremises in the data centre, or AWS for Active Directory hosted in AWS Directory Service or a VPC.'),
    aws: z
      .strictObject({ region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, { error: 'must be an AWS region such as eu-west-1' }) })
      .optional()
      .describe('Where the AWS-hosted connector runs; only with hosting AWS.'),
    description: z.string().optional(),
    enabled: z.boolean().default(true).describe('A disabled connector carries no traffic.'),
    logLevel: z
      .enum(LOG_LEVELS)
      .default('Info')
      .describe('Info is the default; any other level is a temporary elevation that reverts to Info one hour after logLevelSince.'),
    logLevelSince: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('When logLevel was raised (ISO 8601): the agent goes back to Info one hour later. Without it, the hour counts from when mdmops first applied the level. mdmops connector log-level prints both lines.'),
    httpProxy: z
      .strictObject({
        url: url('http').describe('The proxy, http://HOST:PORT: agents speak HTTP CONNECT to it (a proxy reached over TLS is not supported).'),
        noProxy: z.array(z.string().min(1)).optional().describe('Hosts or domains reached directly.'),
        credentialsSecretRef: secretRef.optional().describe('Secret holding "user:password" for the proxy.'),
      })
      .optional(),
    ...policies(),
  })
  .superRefine((spec, ctx) => {
    if (spec.hosting === 'AWS' && !spec.aws) {
      ctx.addIssue({ code: 'custom', path: [], message: 'hosting AWS requires aws.region' });
    }
    if (spec.hosting !== 'AWS' && spec.aws) {
      ctx.addIssue({ code: 'custom', path: ['aws'], message: 'aws applies only to hosting AWS' });
    }
  });

export const connectorStatus = z.strictObject({
  ...statusBase,
  connected: z.boolean().optional(),
  version: z.string().optional(),
  hostname: z.string().optional(),
  lastHeartbeat: z.string().optional(),
  effectiveLogLevel: z.enum(LOG_LEVELS).optional(),
  logLevelRevertsAt: z.string().optional(),
  logLevelSince: z.string().optional().describe('When the level in the spec took effect: logLevelSince, or when mdmops first applied it.'),
  certificateNotAfter: z.string().optional().describe("When the agent's client certificate expires (it renews it before)."),
  hosting: z.string().optional(),
  region: z.string().optional(),
  lastError: z.string().optional().describe('What the agent last failed to do (reach the gateway through its proxy, say).'),
  logCollection: z
    .strictObject({ state: z.enum(['collecting', 'ready', 'failed', 'cancelled']), requestedAt: z.string(), file: z.string().optional(), size: z.number().optional(), error: z.string().optional() })
    .optional()
    .describe('The last log collection (mdmops connector logs --request).'),
});

export type ConnectorSpec = z.output<typeof connectorSpec>;

export const Connector = defineKind({
  kind: 'Connector',
  plural: 'connectors',
  shortNames: ['conn'],
  description: 'An on-premises or AWS-hosted agent that reaches LDAP servers and CAs inside a network.',
  spec: connectorSpec,
  status: connectorStatus,
  printerColumns: [
    { name: 'Hosting', type: 'string', jsonPath: '.spec.hosting' },
    { name: 'Connected', type: 'boolean', jsonPath: '.status.connected' },
  ],
  references: () => refsOf(),
});
