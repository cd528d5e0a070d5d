// Files that resources point at: they exist, stay inside the configuration, and hold what they should.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { FileField, Path } from '../api/index.js';
import { checkPkcs12Structure, readCertificates } from '../pki/x509.js';
import { parseGsqlExport, provisionable, type GsqlExport } from '../sql/gsql-export.js';
import { parseIdpMetadata } from '../identity/saml-metadata.js';
import type { Diagnostic } from './diagnostics.js';
import type { Limits } from './limits.js';
import { diagnosticAt } from './positions.js';
import type { LoadedResource, ValidResource } from './source.js';
import { messageOf } from '../util/message-of.js';

/** Reads are cached for one validation: many resources may share a chain or an export. */
export class ContentChecker {
  private readonly cache = new Map<string, Buffer | string>();
  private readonly exports = new WeakMap<Buffer, GsqlExport>();

  constructor(private readonly limits: Limits) {}

  check(v: ValidResource<LoadedResource>): Diagnostic[] {
    return (v.def.files?.(v.resource.spec) ?? []).flatMap((f) => this.checkField(v, f));
  }

  private checkField(v: ValidResource<LoadedResource>, field: FileField): Diagnostic[] {
    const fail = (message: string, hint?: string, path = [...field.path, field.source.file ? 'file' : 'data']) =>
      [diagnosticAt(v.source, message, { path, code: 'file', hint })];
    const bytes = this.bytes(v, field);
    if (typeof bytes === 'string') return fail(bytes);
    try {
      switch (field.content) {
        case 'certificates': {
          const old = readCertificates(bytes).find((c) => c.version !== 3);
          if (old) return fail(`certificate "${old.subject}" is X.509 v${old.version}; only X.509 v3 certificates are accepted`, 'reissue it as a v3 certificate (with extensions); v1 and v2 are refused since version 76');
          return [];
        }
        case 'pkcs12':
          checkPkcs12Structure(bytes);
          return [];
        case 'saml-metadata':
          parseIdpMetadata(bytes.toString('utf8'));
          return [];
        case 'gsql-export': {
          // Every SqlProvisioning of a configuration may name the same export: parsed once.
          let gsql = this.exports.get(bytes);
          if (!gsql) this.exports.set(bytes, (gsql = parseGsqlExport(bytes.toString('utf8'))));
          return this.checkGsql(v, field, gsql);
        }
      }
    } catch (e) {
      const line = (e as { line?: number }).line;
      return fail(`${field.source.file ?? 'inline data'}${line ? ` (line ${line})` : ''}: ${messageOf(e)}`);
    }
  }

  private checkGsql(v: ValidResource<LoadedResource>, field: Extract<FileField, { content: 'gsql-export' }>, gsql: GsqlExport): Diagnostic[] {
    const type = gsql.objectTypes.get(field.objectType);
    if (!type) {
      return [diagnosticAt(v.source, `the export has no object type "${field.objectType}"`, { path: ['spec', 'objectType'], code: 'file', hint: `object types in the export: ${[...gsql.objectTypes.keys()].join(', ')}` })];
    }
    if (!/^(user|person)$/i.test(type.name)) {
      return [diagnosticAt(v.source, `object type "${type.name}" is not a user or person type; only users are provisioned`, { path: ['spec', 'objectType'], code: 'file' })];
    }
    const at = (path: Path, message: string, hint?: string) => diagnosticAt(v.source, message, { path, code: 'file', ...(hint ? { hint } : {}) });
    const strings = `string attributes of ${type.name}: ${[...type.attributes].filter(([n]) => !provisionable(type, n)).map(([n]) => n).join(', ')}`;
    const out: Diagnostic[] = [];
    // The YAML may say what the export says, or narrow it (a table in a schema); never the contrary.
    const anchor = field.anchor ?? type.anchor;
    const anchorPath: Path = field.anchor ? ['spec', 'anchor', 'attribute'] : ['spec', 'anchor'];
    if (!anchor) out.push(at(anchorPath, `the export marks no anchor attribute for ${type.name}`, 'add anchor: { attribute: <the unique, unchanging attribute> }'));
    else if (type.anchor && anchor !== type.anchor) out.push(at(anchorPath, `the export's anchor for ${type.name} is "${type.anchor}", not "${anchor}"`, `remove anchor.attribute or set it to ${type.anchor}`));
    else {
      const problem = provisionable(type, anchor);
      if (problem) out.push(at(anchorPath, problem, strings));
    }
    if (!field.table && !type.table) out.push(at(['spec', 'table'], `the export names no table for ${type.name}`, 'add table: <the table the users are written to>'));
    else if (field.table && type.table && field.table !== type.table && !field.table.endsWith(`.${type.table}`)) {
      out.push(at(['spec', 'table'], `the export writes ${type.name} to table "${type.table}", not "${field.table}"`, `remove table, or set it to ${type.table} (or SCHEMA.${type.table})`));
    }
    for (const a of field.attributes) {
      const problem = provisionable(type, a.name);
      if (problem) out.push(at(a.path, problem, strings));
    }
    const mapped = new Set([anchor, ...field.attributes.map((a) => a.name)]);
    const unmapped = [...type.attributes].filter(([n, a]) => a.required && a.allowedOperation !== 'ImportOnly' && !mapped.has(n)).map(([n]) => n);
    if (unmapped.length) out.push(at(['spec', 'attributeMapping'], `the export requires ${unmapped.map((n) => `"${n}"`).join(', ')} on every ${type.name}: map ${unmapped.length > 1 ? 'them' : 'it'}`, 'add - { attribute: <name>, from: <user field> } for each'));
    return out;
  }

  /** What a file field holds (inline data decoded), or why it cannot be had. */
  bytes(v: ValidResource, field: FileField): Buffer | string {
    if (field.source.file !== undefined) return this.read(v.source.baseDir, v.source.root, field.source.file);
    const data = field.source.data!;
    return field.content === 'pkcs12' ? Buffer.from(data, 'base64') : Buffer.from(data, 'utf8');
  }

  /** The file's bytes, or why they cannot be had. */
  private read(baseDir: string, root: string, file: string): Buffer | string {
    if (isAbsolute(file)) return `file "${file}" must be a path relative to the YAML file`;
    const path = resolve(baseDir, file);
    if (!inside(root, path)) return `file "${file}" is outside the configuration folder ${root}`;
    const cached = this.cache.get(path);
    if (cached !== undefined) return cached;
    let result: Buffer | string;
    try {
      // A symbolic link may lead out of the folder: where it really is must be inside too.
      const real = realpathSync(path);
      if (!inside(realpathSync(root), real)) {
        result = `file "${file}" is a symbolic link to ${real}, outside the configuration folder ${root}`;
        this.cache.set(path, result);
        return result;
      }
      const size = statSync(path).size;
      result = size > this.limits.maxFileBytes ? `file "${file}" is ${size} bytes, above the limit of ${this.limits.maxFileBytes}` : readFileSync(path);
    } catch {
      const shown = relative(process.cwd(), path);
      result = `file "${file}" not found (looked for ${shown.startsWith('..') ? path : shown})`;
    }
    this.cache.set(path, result);
    return result;
  }
}

/** Whether path is root or below it. */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}
