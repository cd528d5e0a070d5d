// The Microsoft Identity Manager management-agent export (XML) that configures SQL provisioning.
// Only Generic SQL (GSQL) exports are supported; their object types and attributes are DSML.
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface GsqlAttribute {
  syntax: string;
  multiValued: boolean;
}

export interface GsqlObjectType {
  name: string;
  anchor?: string;
  attributes: Map<string, GsqlAttribute>;
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

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  removeNSPrefix: true,
  processEntities: false,
  isArray: (name) => ['class', 'attribute', 'attribute-type'].includes(name),
});

export function parseGsqlExport(xml: string): GsqlExport {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new GsqlExportError(`not well-formed XML: ${valid.err.msg}`, valid.err.line);
  const root = parser.parse(xml)?.['saved-ma-configuration']?.['ma-data'];
  if (!root) throw new GsqlExportError('not a management-agent export: expected <saved-ma-configuration><ma-data>');
  const category = String(root.category ?? '');
  const subtype = String(root.subtype ?? '');
  const dll = String(root['private-configuration']?.MAConfig?.['extension-config']?.filename ?? '');
  if (category !== 'Extensible2' || !(/GenericSql/i.test(dll) || /^Generic SQL/i.test(subtype))) {
    throw new GsqlExportError(`not a Generic SQL (GSQL) management-agent export (category "${category}", subtype "${subtype}"); only GSQL is supported`);
  }
  const schema = root.schema?.dsml?.['directory-schema'];
  const types = new Map<string, GsqlAttribute>();
  for (const t of schema?.['attribute-type'] ?? []) {
    types.set(String(t['@id']), { syntax: SYNTAXES[String(t.syntax)] ?? String(t.syntax), multiValued: String(t['@single-value']) !== 'true' });
  }
  const objectTypes = new Map<string, GsqlObjectType>();
  for (const c of schema?.class ?? []) {
    const name = String(c.name ?? c['@id']);
    const attributes = new Map<string, GsqlAttribute>();
    let anchor: string | undefined;
    for (const a of c.attribute ?? []) {
      const id = String(a['@ref'] ?? '').replace(/^#/, '');
      const type = types.get(id);
      if (type) attributes.set(id, type);
      if (String(a['@isAnchor']) === 'true') anchor = id;
    }
    objectTypes.set(name, { name, anchor, attributes });
  }
  if (!objectTypes.size) throw new GsqlExportError('the export declares no object types (no DSML schema)');
  return { name: String(root.name ?? ''), objectTypes };
}

/** Why an attribute cannot be provisioned, or undefined when it can: only single-valued strings. */
export function provisionable(objectType: GsqlObjectType, attribute: string): string | undefined {
  const a = objectType.attributes.get(attribute);
  if (!a) return `object type ${objectType.name} has no attribute "${attribute}"`;
  if (a.multiValued) return `attribute "${attribute}" is multi-valued; only single-valued string attributes are supported`;
  if (a.syntax !== 'String') return `attribute "${attribute}" is ${a.syntax}; only single-valued string attributes are supported`;
  return undefined;
}
