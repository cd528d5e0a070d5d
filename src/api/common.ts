// Building blocks shared by every kind. Pure: no I/O, no imports of our own beyond this folder.
import { z } from 'zod';
import { DURATION_PATTERN } from './duration.js';

export const API_GROUP = 'mdmops.io';
export const API_VERSION = `${API_GROUP}/v1alpha1`;
export const DEFAULT_NAMESPACE = 'default';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const dnsName = z
  .string()
  .max(253, { error: 'must be at most 253 characters' })
  .regex(DNS1123_SUBDOMAIN, {
    error: "must be a DNS-1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
  });

export const dnsLabel = z
  .string()
  .max(63, { error: 'must be at most 63 characters' })
  .regex(DNS1123_LABEL, {
    error: "must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
  });

export const metadata = z
  .strictObject({
    name: dnsName.describe('Name of the resource, unique per kind within the tenant.'),
    namespace: dnsLabel.default(DEFAULT_NAMESPACE).describe('The tenant. Defaults to "default".'),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .describe('Standard object metadata.');

export const duration = z
  .string()
  .regex(DURATION_PATTERN, { error: 'must be a duration such as 90s, 15m, 1h30m or 30d' })
  .describe('A duration: numbers with units ms, s, m, h or d, e.g. 1h30m or 30d.');

/** A reference to another resource of the same tenant; the field says which kind. */
export function ref(kind: string) {
  return z.strictObject({ name: dnsName }).describe(`Reference to a ${kind} in the same tenant.`);
}

/** Secrets never appear in YAML: a Kubernetes Secret key, or <secrets-dir>/<name>/<key> standalone. */
export const secretRef = z
  .strictObject({
    name: dnsName.describe('Name of the Secret (or folder under the secrets directory).'),
    key: z
      .string()
      .regex(/^(?!\.\.?$)[-._a-zA-Z0-9]+$/, { error: "must be a Secret key: letters, digits, '-', '_' and '.', and not . or .." })
      .describe('Key within the Secret.'),
  })
  .describe('Reference to a key of a Secret; the value itself never appears in YAML.');

/** Key material and certificates: a file path relative to the YAML file, or the content inline. */
export const fileSource = z
  .strictObject({
    file: z.string().min(1).optional().describe('Path, relative to the YAML file that declares it.'),
    data: z.string().min(1).optional().describe('Inline content: PEM or XML text, or base64 for binary formats.'),
  })
  .superRefine((v, ctx) => {
    if ((v.file === undefined) === (v.data === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of file or data' });
    }
  })
  .describe('A file (path relative to this YAML file) or inline data.');

export const sha256Fingerprint = z
  .string()
  .regex(/^([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}$/, { error: 'must be a SHA-256 fingerprint: 64 hex digits, colons allowed' })
  .transform((s) => s.replace(/:/g, '').toLowerCase())
  .describe('SHA-256 fingerprint, 64 hex digits (colon-separated pairs accepted).');

/** user:password@ in a URL is a secret written inline. */
const CREDENTIALS_IN_URL = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*@/i;

export function url(schemes: string) {
  return z
    .string()
    .regex(new RegExp(`^(${schemes}):\\/\\/[^\\s/?#]+[^\\s]*$`, 'i'), { error: `must be an ${schemes.split('|').map((s) => `${s}://`).join(' or ')} URL` })
    .refine((u) => !CREDENTIALS_IN_URL.test(u), {
      error: 'must not hold credentials (user:password@); secrets never appear in YAML, use the secretRef field beside it',
    });
}

export const httpUrl = url('http|https');
export const httpsUrl = url('https');

export const keyAlgorithm = z
  .enum(['RSA-2048', 'RSA-3072', 'RSA-4096', 'ECDSA-P256', 'ECDSA-P384'])
  .describe('Key type and size.');

export const condition = z.strictObject({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().optional(),
  message: z.string().optional(),
  observedGeneration: z.number().int().optional(),
  lastTransitionTime: z.string().optional(),
});

/** Fields every status has; kinds add their own. */
export const statusBase = {
  conditions: z.array(condition).optional(),
  observedGeneration: z.number().int().optional(),
};

/** Status of the identity sources. */
export const syncStatus = {
  ...statusBase,
  lastSyncTime: z.string().optional(),
  lastSyncDuration: z.string().optional(),
  userCount: z.number().int().optional(),
  groupCount: z.number().int().optional(),
  lastError: z.string().optional(),
};

/** How mdmops treats a resource, not what the resource is: a change to these is never drift. */
export const POLICY_FIELDS = ['suspend', 'managementPolicy', 'deletionPolicy'] as const;

/** Fields every spec has. deletionPolicy only where deleting is destructive, with the kind's default. */
export function policies(deletionDefault?: 'Delete' | 'Orphan') {
  const common = {
    suspend: z.boolean().default(false).describe('Stop reconciling this resource.'),
    managementPolicy: z
      .enum(['Enforce', 'Observe'])
      .default('Enforce')
      .describe('Enforce corrects drift; Observe only reports it.'),
  };
  if (!deletionDefault) return common;
  return {
    ...common,
    deletionPolicy: z
      .enum(['Delete', 'Orphan'])
      .default(deletionDefault)
      .describe('What happens to external state when the resource is removed: Delete it, or Orphan (keep it).'),
  };
}

/** Variables usable in variable-aware fields, besides custom attributes. */
export const BUILTIN_VARIABLES = ['userEmailAddress', 'userUPN'] as const;
export const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** How many users a sync round may delete before it stops for confirmation (accidental-delete prevention). */
export const deletionThreshold = z
  .strictObject({
    users: z.number().int().min(0).default(500).describe('More deletions than this stop the round.'),
    percent: z.number().min(0).max(100).default(10).describe('Deleting more than this share of the synced users stops the round.'),
  })
  .default({ users: 500, percent: 10 })
  .describe('A round that would delete more users than either stops, changing nothing, until it is run with --allow-mass-delete.');

export const customAttribute = z.strictObject({
  name: z
    .string()
    .regex(ATTRIBUTE_NAME, { error: 'must start with a letter and hold only letters, digits and _' })
    .describe('Name used as ${name} in variable-aware fields.'),
  attribute: z.string().min(1).optional().describe('Attribute in the source directory; defaults to name.'),
});

/** Reject duplicate values of `key` in an array field. */
export function uniqueBy<T>(items: T[] | undefined, key: (t: T) => string, ctx: z.RefinementCtx, path: (string | number)[], what: string) {
  const seen = new Set<string>();
  items?.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) ctx.addIssue({ code: 'custom', path: [...path, i], message: `duplicate ${what} "${k}"` });
    seen.add(k);
  });
}
