// XML as the configuration's readers take it (a GSQL export, SAML metadata): well-formed or a
// message with its line, attributes as '@name', namespace prefixes dropped, entities left as they
// are (no expansion). fast-xml-parser is loaded at the first read: most commands read no XML.
import type * as FastXml from 'fast-xml-parser';
import { lazyRequire } from './lazy-require.js';

/** Its CommonJS build, required synchronously: the readers' callers are not async. */
const loadXml = lazyRequire<typeof FastXml>('fast-xml-parser');

export interface XmlReader {
  /** The document as objects, or why it is not well-formed (and where). */
  read(xml: string): { doc: Record<string, any> } | { error: string; line: number };
}

/** A reader that makes arrays of the elements named in `arrays`, however many there are. */
export function xmlReader(arrays: string[]): XmlReader {
  let parser: FastXml.XMLParser | undefined;
  return {
    read(xml) {
      const { XMLParser, XMLValidator } = loadXml();
      const valid = XMLValidator.validate(xml);
      if (valid !== true) return { error: valid.err.msg, line: valid.err.line };
      parser ??= new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true, processEntities: false, isArray: (name) => arrays.includes(name) });
      return { doc: parser.parse(xml) ?? {} };
    },
  };
}
