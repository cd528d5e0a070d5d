// What a kind declares about itself. The rest of the program learns kinds only through this.
import { z } from 'zod';

export type Path = (string | number)[];

/** A reference from one resource to another of the same tenant, found at `path` in the resource. */
export interface Reference {
  path: Path;
  kind: string;
  name: string;
}

/** A field pointing at a file (or inline data) whose content is checked at validation. */
export type FileField =
  | { path: Path; source: FileSource; content: 'certificates' | 'pkcs12' | 'saml-metadata' }
  /** A GSQL export; the table and anchor attribute the resource names, if it does; the attributes of objectType it maps (each with its own path). */
  | { path: Path; source: FileSource; content: 'gsql-export'; objectType: string; table?: string; anchor?: string; attributes: { path: Path; name: string }[] };

/** The extension of a file of each content, for a file given inline (as export writes it). */
export const FILE_EXTENSION: Record<FileField['content'], string> = { certificates: 'pem', pkcs12: 'p12', 'saml-metadata': 'xml', 'gsql-export': 'xml' };

export interface FileSource {
  file?: string;
  data?: string;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
}

export interface KindDefinition<Spec extends z.ZodType = z.ZodType> {
  kind: string;
  plural: string;
  shortNames: string[];
  description: string;
  spec: Spec;
  status: z.ZodType;
  /** Shown by kubectl get between Ready and Age: the column that matters for the kind. */
  printerColumns: PrinterColumn[];
  references(spec: z.output<Spec>): Reference[];
  files?(spec: z.output<Spec>): FileField[];
}

export function defineKind<Spec extends z.ZodType>(def: KindDefinition<Spec>): KindDefinition<Spec> {
  return def;
}

/** A reference helper that drops absent refs. */
export function refsOf(...refs: (Reference | false | undefined)[]): Reference[] {
  return refs.filter((r): r is Reference => !!r);
}

interface TypeFields {
  required: string[];
  optional: string[];
  defaults?: Record<string, unknown>;
}

/**
 * A flat spec whose `type` decides which fields apply. Fields of another type are refused by name,
 * required ones reported, and the type's defaults filled in after the checks (so a default of one
 * type never looks like a field set on another).
 */
export function fieldsByType<T extends string, S extends z.core.$ZodShape>(
  shape: S,
  types: Record<T, TypeFields>,
  always: string[],
) {
  const object = z.strictObject(shape);
  return object
    .superRefine((spec: Record<string, unknown>, ctx) => {
      const type = spec.type as T;
      const fields = types[type];
      if (!fields) return;
      const allowed = new Set([...always, ...fields.required, ...fields.optional]);
      for (const key of Object.keys(spec)) {
        if (spec[key] === undefined || allowed.has(key)) continue;
        const owners = (Object.keys(types) as T[]).filter((t) => types[t].required.includes(key) || types[t].optional.includes(key));
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `field "${key}" does not apply to type ${type}`,
          params: { hint: owners.length ? `it applies to type ${owners.join(', ')}` : undefined },
        });
      }
      for (const key of fields.required) {
        if (spec[key] === undefined) {
          ctx.addIssue({ code: 'custom', path: [], message: `type ${type} requires field "${key}"` });
        }
      }
    })
    .transform((spec) => {
      const defaults = types[(spec as Record<string, unknown>).type as T]?.defaults ?? {};
      const filled: Record<string, unknown> = { ...spec };
      for (const [k, v] of Object.entries(defaults)) if (filled[k] === undefined) filled[k] = v;
      return filled as typeof spec;
    });
}
