// CustomResourceDefinitions generated from the kinds: structural openAPIV3Schema, status subresource,
// printer columns, short names and the mdmops category.
import { API_GROUP, part, type KindDefinition } from '../api/index.js';

type Json = Record<string, unknown>;

export function crdFor(def: KindDefinition): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      scope: 'Namespaced',
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.kind.toLowerCase(),
        shortNames: def.shortNames,
        categories: ['mdmops'],
      },
      versions: [
        {
          name: 'v1alpha1',
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            ...def.printerColumns,
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              description: def.description,
              type: 'object',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: structural(part(def.spec, 'openapi-3.0')),
                status: structural(part(def.status, 'openapi-3.0')),
              },
            },
          },
        },
      ],
    },
  };
}

/**
 * Kubernetes structural schemas forbid additionalProperties beside properties, and its regexes are
 * RE2 (no lookaround): unknown fields are pruned by the API server, and the controller validates
 * every resource with the full schema anyway.
 */
export function structural(schema: unknown): Json {
  if (Array.isArray(schema)) return schema.map(structural) as unknown as Json;
  if (typeof schema !== 'object' || schema === null) return schema as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === 'additionalProperties' && (v === false || 'properties' in schema)) continue;
    if (k === 'pattern' && /\(\?[=!<]/.test(String(v))) continue;
    if (k === '$schema') continue;
    out[k] = k === 'default' || k === 'enum' ? v : structural(v);
  }
  return out;
}
