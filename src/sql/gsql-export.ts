// The Microsoft Identity Manager management-agent export (XML) that configures SQL provisioning.
// Only Generic SQL (GSQL) exports are supported; their object types and attributes are DSML.
import { xmlReader } from '../util/xml.js';

export interface GsqlAttribute {
  syntax: string;
  multiValued: boolean;
  /** The application needs a value on every object of the type. */
  required: boolean;
  /** ms-dsml:allowedOperation: ImportOnly attributes are read from the application, never written. */
  allowedOperation?: 'ImportOnly' | 'ExportOnly';
}

export interface GsqlObjectType {
  name: string;
  anchor?: string;
  attributes: Map<string, GsqlAttribute>;
  /** The table (or view) the Table/View method writes the type to, when the export names one. */
  table?: string;
}

export interface GsqlExport {
  name: string;
  objectTypes: Map<string, GsqlObjectType>;
}

export class GsqlExportError extends Error {
  constructor(message: string, readonly line?: number) {
    super(message);
  }
}

/** LDAP syntax OIDs used by DSML attribute types. */
const SYNTAXES: Record<string, string> = {
  '1.3.6.1.4.1.1466.115.121.1.15': 'String',
  '1.3.6.1.4.1.1466.115.121.1.27': 'Integer',
  '1.3.6.1.4.1.1466.115.121.1.7': 'Boolean',
  '1.3.6.1.4.1.1466.115.121.1.5': 'Binary',
  '1.3.6.1.4.1.1466.115.121.1.12': 'Reference',
};

const reader = xmlReader(['class', 'attribute', 'attribute-type', 'parameter']);

export function parseGsqlExport(xml: string): GsqlExport {
  const read = reader.read(xml);
  if ('error' in read) throw new GsqlExportError(`not well-formed XML: ${read.error}`, read.line);
  const root = read.doc?.['saved-ma-configuration']?.['ma-data'];
  if (!root) throw new GsqlExportError('not a management-agent export: expected <saved-ma-configuration><ma-data>');
  const category = String(root.category ?? '');
  const subtype = String(root.subtype ?? '');
  const dll = String(root['private-configuration']?.MAConfig?.['extension-config']?.filename ?? '');
  if (category !== 'Extensible2' || !(/GenericSql/i.test(dll) || /^Generic SQL/i.test(subtype))) {
    throw new GsqlExportError(`not a Generic SQL (GSQL) management-agent export (category "${category}", subtype "${subtype}"); only GSQL is supported`);
  }
  const schema = root.schema?.dsml?.['directory-schema'];
  const types = new Map<string, Omit<GsqlAttribute, 'required'>>();
  for (const t of schema?.['attribute-type'] ?? []) {
    types.set(String(t['@id']), { syntax: SYNTAXES[String(t.syntax)] ?? String(t.syntax), multiValued: String(t['@single-value']) !== 'true', ...operation(t) });
  }
  // The connector's own settings: "TYPE:Table/View/SP" names a type's table, "Select Anchor for :TYPE" its anchor.
  const parameters = new Map<string, string>();
  for (const p of root['private-configuration']?.MAConfig?.['parameter-values']?.parameter ?? []) parameters.set(String(p['@name']), String(p['#text'] ?? '').trim());
  const objectTypes = new Map<string, GsqlObjectType>();
  for (const c of schema?.class ?? []) {
    const name = String(c.name ?? c['@id']);
    const attributes = new Map<string, GsqlAttribute>();
    let anchor: string | undefined;
    for (const a of c.attribute ?? []) {
      const id = String(a['@ref'] ?? '').replace(/^#/, '');
      const type = types.get(id);
      if (type) attributes.set(id, { ...type, required: String(a['@required']) === 'true', ...operation(a) });
      if (String(a['@isAnchor']) === 'true') anchor = id;
    }
    const chosen = parameters.get(`Select Anchor for :${name}`);
    if (!anchor && chosen?.startsWith(`${name}:`)) anchor = chosen.slice(name.length + 1);
    const table = parameters.get(`${name}:Table/View/SP`) || undefined;
    objectTypes.set(name, { name, anchor, attributes, ...(table ? { table } : {}) });
  }
  if (!objectTypes.size) throw new GsqlExportError('the export declares no object types (no DSML schema)');
  return { name: String(root.name ?? ''), objectTypes };
}

/** ms-dsml:allowedOperation, on an attribute type or on its use in a class (which wins). */
function operation(element: Record<string, unknown>): Pick<GsqlAttribute, 'allowedOperation'> {
  const op = String(element['@allowedOperation'] ?? '');
  return op === 'ImportOnly' || op === 'ExportOnly' ? { allowedOperation: op } : {};
}

/** Why an attribute cannot be provisioned, or undefined when it can: only single-valued strings. */
export function provisionable(objectType: GsqlObjectType, attribute: string): string | undefined {
  const a = objectType.attributes.get(attribute);
  if (!a) return `object type ${objectType.name} has no attribute "${attribute}"`;
  if (a.multiValued) return `attribute "${attribute}" is multi-valued; only single-valued string attributes are supported`;
  if (a.syntax !== 'String') return `attribute "${attribute}" is ${a.syntax}; only single-valued string attributes are supported`;
  if (a.allowedOperation === 'ImportOnly') return `attribute "${attribute}" is ImportOnly in the export: the application does not take it`;
  return undefined;
}
