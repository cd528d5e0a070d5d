// YAML text to documents with source positions, refusing hostile input before it is composed:
// the composer recurses, so a deeply nested document would exhaust memory before any other check.
import { Composer, LineCounter, Parser, type CST, type Document } from 'yaml';
import type { Diagnostic } from './diagnostics.js';
import type { Limits } from './limits.js';

export interface ParsedYaml {
  lineCounter: LineCounter;
  documents: Document.Parsed[];
  errors: Diagnostic[];
}

const MESSAGES: Record<string, string> = {
  TAB_AS_INDENT: 'tabs are not allowed as indentation; indent with spaces',
  TAG_RESOLVE_FAILED: 'unknown tag; mdmops reads plain YAML without custom tags',
};

export function parseYaml(file: string, text: string, limits: Limits): ParsedYaml {
  const lineCounter = new LineCounter();
  const at = (offset: number, message: string, code: string): Diagnostic => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, message, code };
  };
  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(text));

  const errors: Diagnostic[] = [];
  const starts = tokens.filter((t) => t.type === 'document').map((t) => t.offset);
  if (starts.length > limits.maxDocumentsPerFile) {
    errors.push(at(starts[limits.maxDocumentsPerFile]!, `more than ${limits.maxDocumentsPerFile} documents in one file`, 'limit'));
  }
  starts.forEach((start, i) => {
    const size = (starts[i + 1] ?? text.length) - start;
    if (size > limits.maxDocumentBytes) {
      errors.push(at(start, `document is ${size} characters, above the limit of ${limits.maxDocumentBytes}`, 'limit'));
    }
  });
  for (const token of tokens) {
    const deep = tooDeep(token, limits.maxDepth);
    if (deep !== undefined) errors.push(at(deep, `nesting deeper than ${limits.maxDepth} levels`, 'limit'));
  }
  if (errors.length) return { lineCounter, documents: [], errors };

  const composer = new Composer({ uniqueKeys: true, merge: false, prettyErrors: false, strict: true, lineCounter });
  const documents = Array.from(composer.compose(tokens, true, text.length));
  for (const doc of documents) {
    // The first problem of a document only: later ones are mostly its consequences.
    const e = doc.errors[0] ?? doc.warnings[0];
    if (e) errors.push(at(e.pos[0], e.code === 'DUPLICATE_KEY' ? `duplicate key "${keyAt(text, e.pos[0])}"` : MESSAGES[e.code] ?? lowerFirst(e.message.split('\n')[0]!), 'yaml'));
  }
  return { lineCounter, documents, errors };
}

function keyAt(text: string, offset: number): string {
  const m = /^("(?:[^"\\]|\\.)*"|'[^']*'|[^:\n]*?)\s*:(\s|$)/.exec(text.slice(offset, offset + 300));
  return (m?.[1] ?? text.slice(offset, offset + 40).split(/[:\n]/)[0]!).replace(/^["']|["']$/g, '');
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** Offset of the first collection nested deeper than max, found without recursion. */
function tooDeep(root: CST.Token, max: number): number | undefined {
  const stack: [CST.Token, number][] = [[root, 0]];
  while (stack.length) {
    const [token, depth] = stack.pop()!;
    if (depth > max) return token.offset;
    const children: (CST.Token | null | undefined)[] = [];
    switch (token.type) {
      case 'document':
        children.push(token.value);
        break;
      case 'block-map':
      case 'block-seq':
      case 'flow-collection':
        for (const item of token.items) children.push(item.key, item.value);
        break;
      default:
        break;
    }
    const next = token.type === 'document' ? depth : depth + 1;
    for (const child of children) if (child) stack.push([child, next]);
  }
  return undefined;
}
