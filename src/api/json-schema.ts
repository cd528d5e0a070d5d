// JSON Schemas of the kinds, generated from the zod schemas: for editors (yaml-language-server) and CRDs.
import { z } from 'zod';
import { API_VERSION, metadata } from './common.js';
import type { KindDefinition } from './kind.js';

export const SCHEMA_BASE_URL = 'https://mdmops.io/schemas/v1alpha1';

/** Kebab-case file stem of a kind: CertificateAuthority -> certificate-authority. */
export function kindFileStem(kind: string): string {
  return kind.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

type Json = Record<string, unknown>;

/** What a user writes (defaults optional), as draft-07, which editors support best. */
export function editorSchema(def: KindDefinition): Json {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `${SCHEMA_BASE_URL}/${kindFileStem(def.kind)}.json`,
    title: def.kind,
    description: def.description,
    type: 'object',
    properties: {
      apiVersion: { type: 'string', enum: [API_VERSION] },
      kind: { type: 'string', enum: [def.kind] },
      metadata: part(metadata, 'draft-7'),
      spec: part(def.spec, 'draft-7'),
      status: { type: 'object', description: 'Written by the reconciler; ignored in input.' },
    },
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    additionalProperties: false,
  };
}

/** One schema for any mdmops document, choosing the kind's schema by its kind field. */
export function combinedEditorSchema(kinds: readonly KindDefinition[]): Json {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `${SCHEMA_BASE_URL}/all.json`,
    title: 'mdmops resource',
    type: 'object',
    required: ['apiVersion', 'kind'],
    properties: { kind: { type: 'string', enum: kinds.map((k) => k.kind) } },
    allOf: kinds.map((k) => ({
      if: { properties: { kind: { const: k.kind } }, required: ['kind'] },
      then: { $ref: `./${kindFileStem(k.kind)}.json` },
    })),
  };
}

/** A zod schema as JSON Schema of its input side, without the top-level $schema. */
export function part(schema: z.ZodType, target: 'draft-7' | 'openapi-3.0'): Json {
  const out = z.toJSONSchema(schema, { target, io: 'input', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}
