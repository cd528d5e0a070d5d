// A resource once validated: what every layer above api/ passes around.
import type { z } from 'zod';
import type { metadata } from './common.js';

export type Metadata = z.output<typeof metadata>;

export interface Resource<Spec = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  spec: Spec;
}

/** Kind/namespace/name: unique within everything mdmops manages. */
export function resourceKey(r: { kind: string; metadata: { namespace?: string; name: string } }): string {
  return `${r.kind}/${r.metadata.namespace ?? 'default'}/${r.metadata.name}`;
}

/** How users see a resource in messages: Kind/name, with the tenant when not the default one. */
export function displayName(kind: string, name: string, namespace = 'default'): string {
  return namespace === 'default' ? `${kind}/${name}` : `${kind}/${namespace}/${name}`;
}
