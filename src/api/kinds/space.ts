// Space: delegated administration. The default space is implicit and global.
import { z } from 'zod';
import { defineKind, refsOf } from '../kind.js';
import { policies, statusBase } from '../common.js';

const principals = z.strictObject({
  users: z.array(z.string().min(1)).optional().describe('Directory users (UPN or e-mail).'),
  groups: z.array(z.string().min(1)).optional().describe('Directory groups.'),
});

export const spaceSpec = z
  .strictObject({
    displayName: z.string().min(1),
    description: z.string().optional(),
    priority: z.number().int().min(1).describe('Lower numbers win when a device matches several spaces; unique per tenant.'),
    members: z
      .strictObject({
        groups: z.array(z.string().min(1)).optional().describe('Directory groups whose devices belong to the space.'),
        matchLabels: z.record(z.string(), z.string()).optional().describe('Device labels.'),
      })
      .describe('Which devices belong to the space.'),
    admins: principals.describe('Who administers the space.'),
    ...policies(),
  })
  .superRefine((spec, ctx) => {
    if (!spec.members.groups?.length && !Object.keys(spec.members.matchLabels ?? {}).length) {
      ctx.addIssue({ code: 'custom', path: ['members'], message: 'a space needs members: at least one group or label' });
    }
    if (!spec.admins.users?.length && !spec.admins.groups?.length) {
      ctx.addIssue({ code: 'custom', path: ['admins'], message: 'a space needs at least one admin user or group' });
    }
  });

export const spaceStatus = z.strictObject({
  ...statusBase,
  deviceCount: z.number().int().optional(),
  configurationCount: z.number().int().optional(),
});

export type SpaceSpec = z.output<typeof spaceSpec>;

export const Space = defineKind({
  kind: 'Space',
  plural: 'spaces',
  shortNames: ['sp'],
  description: 'A space of delegated administration: its devices, its admins and its priority.',
  spec: spaceSpec,
  status: spaceStatus,
  printerColumns: [{ name: 'Priority', type: 'integer', jsonPath: '.spec.priority' }],
  references: () => refsOf(),
});
