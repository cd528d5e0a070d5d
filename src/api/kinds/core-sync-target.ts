// CoreSyncTarget (seed 004): a peer core that receives this tenant's configuration over pinned TLS.
import { z } from 'zod';
import { defineKind, refsOf } from '../kind.js';
import { duration, policies, secretRef, sha256Fingerprint, statusBase } from '../common.js';

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/i;

/** Fully qualified: at least two DNS labels, a non-numeric top-level label; a trailing dot is allowed. */
export function isFullyQualified(fqdn: string): boolean {
  const labels = fqdn.replace(/\.$/, '').split('.');
  return fqdn.length <= 254 && labels.length >= 2 && labels.every((l) => l.length <= 63 && LABEL.test(l)) && !/^\d+$/.test(labels.at(-1)!);
}

export const coreSyncTargetSpec = z.strictObject({
  fqdn: z
    .string()
    .refine(isFullyQualified, { error: 'must be the fully qualified domain name of the core server, e.g. core2.example.com' })
    .describe('Fully qualified domain name of the target core server.'),
  port: z.number().int().min(1).max(65535).default(443),
  syncEnabled: z.boolean().default(true).describe('Synchronise with this core server.'),
  syncInterval: duration.default('2m').describe('How often the configuration is sent again when nothing changed (a change is sent at the next look).'),
  description: z.string().optional(),
  credentials: z
    .strictObject({
      username: z.string().min(1).describe('An account with administrator rights on the source core.'),
      passwordSecretRef: secretRef,
    })
    .describe('Account the sync service uses.'),
  clientCertificate: z
    .strictObject({ certificateSecretRef: secretRef, privateKeySecretRef: secretRef })
    .optional()
    .describe('Keys for client-certificate security, copied from the source core.'),
  trust: z
    .strictObject({
      certificateSha256: sha256Fingerprint.optional().describe('Pin of the target TLS certificate; absent means untrusted (no sync).'),
    })
    .default({})
    .describe('Trusting a target is a reviewed decision: commit the fingerprint that status presents.'),
  ...policies(),
});

export const coreSyncTargetStatus = z.strictObject({
  ...statusBase,
  trusted: z.boolean().optional(),
  presentedCertificateSha256: z.string().optional(),
  presentedCertificate: z
    .strictObject({ subject: z.string(), issuer: z.string(), validFrom: z.string(), validTo: z.string() })
    .optional()
    .describe('What the target presents, for the review before its pin is committed.'),
  droppedCertificateSha256: z.string().optional().describe('A pin dropped because the target presented another certificate: sync stays blocked until a new pin is committed.'),
  lastSyncTime: z.string().optional(),
  lastSyncResult: z.string().optional(),
  lastError: z.string().optional(),
  generation: z.number().int().optional().describe('Generation of the last bundle sent.'),
  sentSha256: z.string().optional().describe('Content hash of the last bundle the target applied.'),
  consecutiveFailures: z.number().int().optional(),
});

export type CoreSyncTargetSpec = z.output<typeof coreSyncTargetSpec>;

export const CoreSyncTarget = defineKind({
  kind: 'CoreSyncTarget',
  plural: 'coresynctargets',
  shortNames: ['coresync'],
  description: 'A peer core server that receives this tenant\'s configuration over pinned TLS.',
  spec: coreSyncTargetSpec,
  status: coreSyncTargetStatus,
  printerColumns: [
    { name: 'FQDN', type: 'string', jsonPath: '.spec.fqdn' },
    { name: 'Trusted', type: 'boolean', jsonPath: '.status.trusted' },
  ],
  references: () => refsOf(),
});
