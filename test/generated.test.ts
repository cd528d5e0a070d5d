// The committed JSON Schemas and CRDs: current, usable by an editor's validator, and structural.
import { readFileSync, readdirSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { mdmops } from './support/cli.js';

const schemaFiles = readdirSync('schemas');
const schemas = Object.fromEntries(schemaFiles.map((f) => [f, JSON.parse(readFileSync(`schemas/${f}`, 'utf8'))]));
const tenantDocs = readdirSync('examples/tenant')
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(`examples/tenant/${f}`, 'utf8')).map((d) => d.toJS()));

describe('generated files', () => {
  it('are current', () => {
    const run = mdmops(['schema', '--check', '.']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('validate the example tenant in a JSON Schema validator, as an editor would', () => {
    const ajv = new Ajv({ strict: false, allErrors: true, formats: { email: true } });
    for (const [file, schema] of Object.entries(schemas)) ajv.addSchema(schema, `./${file}`);
    const all = ajv.getSchema('./all.json')!;
    expect(tenantDocs.length).toBe(15);
    for (const doc of tenantDocs) expect(all(doc), JSON.stringify(all.errors)).toBe(true);
    const typo = { ...tenantDocs[0], spec: { ...tenantDocs[0].spec, loglevel: 'Debug' } };
    expect(all(typo)).toBe(false);
    expect(all({ ...tenantDocs[0], kind: 'Widget' })).toBe(false);
  });

  const crds = readdirSync('charts/mdmops/crds').map((f) => parse(readFileSync(`charts/mdmops/crds/${f}`, 'utf8')));

  it('are CRDs with status, printer columns, short names and the mdmops category', () => {
    expect(crds).toHaveLength(9);
    for (const crd of crds) {
      const v = crd.spec.versions[0];
      expect(crd.spec.names.categories).toEqual(['mdmops']);
      expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
      expect(v.subresources).toEqual({ status: {} });
      const columns = v.additionalPrinterColumns.map((c: { name: string }) => c.name);
      expect(columns[0]).toBe('Ready');
      expect(columns.at(-1)).toBe('Age');
      expect(columns.length).toBeGreaterThanOrEqual(3);
    }
  });

  it('have structural schemas: typed nodes, no additionalProperties beside properties, RE2 patterns', () => {
    const problems: string[] = [];
    const walk = (node: Record<string, unknown>, path: string) => {
      if (!node.type && !node['x-kubernetes-preserve-unknown-fields'] && !node['x-kubernetes-int-or-string']) problems.push(`${path}: no type`);
      if (node.properties && 'additionalProperties' in node) problems.push(`${path}: additionalProperties beside properties`);
      if (typeof node.pattern === 'string' && /\(\?[=!<]/.test(node.pattern)) problems.push(`${path}: lookaround pattern`);
      for (const k of ['anyOf', 'oneOf', 'allOf', 'not']) if (k in node) problems.push(`${path}: ${k}`);
      for (const [k, child] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) walk(child, `${path}.${k}`);
      if (node.items) walk(node.items as Record<string, unknown>, `${path}[]`);
      if (typeof node.additionalProperties === 'object') walk(node.additionalProperties as Record<string, unknown>, `${path}{}`);
    };
    for (const crd of crds) walk(crd.spec.versions[0].schema.openAPIV3Schema, crd.spec.names.kind);
    expect(problems).toEqual([]);
  });
});
