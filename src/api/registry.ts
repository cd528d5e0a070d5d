// The kinds' schemas, in one list. Adding a kind: its schema in kinds/<kind>.ts and a line here;
// its provider in providers/<kind>/index.ts (defineProvider(Kind, {...}), the provider contract of engine/provider.ts) and a line in
// providers/index.ts (a test checks both lists name the same kinds); then `npm run generate` for
// its JSON Schema and CRD.
import { z } from 'zod';
import { API_VERSION, metadata } from './common.js';
import type { KindDefinition } from './kind.js';
import { Connector } from './kinds/connector.js';
import { CertificateAuthority } from './kinds/certificate-authority.js';
import { CertificateConfiguration } from './kinds/certificate-configuration.js';
import { Space } from './kinds/space.js';
import { EntraIdSource } from './kinds/entra-id-source.js';
import { LdapSource } from './kinds/ldap-source.js';
import { IdentityProvider } from './kinds/identity-provider.js';
import { CoreSyncTarget } from './kinds/core-sync-target.js';
import { SqlProvisioning } from './kinds/sql-provisioning.js';

export const KINDS: readonly KindDefinition[] = [
  Connector,
  CertificateAuthority,
  CertificateConfiguration,
  Space,
  EntraIdSource,
  LdapSource,
  IdentityProvider,
  CoreSyncTarget,
  SqlProvisioning,
] as KindDefinition[];

const byName = new Map(KINDS.map((k) => [k.kind, k]));

export function kindNamed(kind: string): KindDefinition | undefined {
  return byName.get(kind);
}

/** The whole resource as written in YAML. Input status (e.g. from kubectl get -o yaml) is ignored. */
export function resourceSchema(def: KindDefinition) {
  return z.strictObject({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(def.kind),
    metadata,
    spec: def.spec,
    status: z.record(z.string(), z.unknown()).optional(),
  });
}

const schemas = new Map(KINDS.map((k) => [k.kind, resourceSchema(k)]));

export function resourceSchemaOf(kind: string) {
  return schemas.get(kind);
}

/** A kind as a user may type it: Connector, connector, connectors or a short name such as conn. */
export function findKind(text: string): KindDefinition | undefined {
  const t = text.toLowerCase();
  return KINDS.find((k) => k.kind.toLowerCase() === t || k.plural === t || k.shortNames.includes(t));
}
