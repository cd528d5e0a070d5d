// YAML text to documents with source positions, refusing hostile input before it is composed:
// the composer recurses, so a deeply nested document would exhaust memory before any other check.
import { Composer, isAlias, isMap, isScalar, isSeq, LineCounter, Parser, type CST, type Document, type Node } from 'yaml';
import { lowerFirst, type Diagnostic } from './diagnostics.js';
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

  // uniqueKeys is off: the library compares keys pairwise, minutes on a mapping of 90,000 keys.
  const composer = new Composer({ uniqueKeys: false, merge: false, prettyErrors: false, strict: true, lineCounter });
  const documents: Document.Parsed[] = [];
  for (const doc of composer.compose(tokens, true, text.length)) {
    // The first problem of a document only: later ones are mostly its consequences.
    const e = doc.errors[0] ?? doc.warnings[0];
    if (e) {
      errors.push(at(e.pos[0], MESSAGES[e.code] ?? lowerFirst(e.message.split('\n')[0]!), 'yaml'));
      continue;
    }
    if (doc.directives.yaml.explicit && doc.directives.yaml.version !== '1.2') {
      errors.push(at(doc.range[0], `YAML ${doc.directives.yaml.version} is not supported; mdmops reads YAML 1.2 (remove the %YAML directive)`, 'yaml'));
      continue;
    }
    const problem = keyProblem(doc);
    if (problem) {
      errors.push(at(problem.offset, problem.message, 'yaml'));
      continue;
    }
    documents.push(doc);
  }
  return { lineCounter, documents, errors };
}

/** Duplicate keys, keys that are not scalars, and aliases to unknown anchors, in one pass. */
function keyProblem(doc: Document.Parsed): { offset: number; message: string } | undefined {
  const stack: (Node | null | undefined)[] = [doc.contents];
  while (stack.length) {
    const node = stack.pop();
    if (isAlias(node) && !node.resolve(doc)) {
      return { offset: node.range?.[0] ?? 0, message: `unknown alias *${node.source}; anchors must be defined earlier in the same document` };
    }
    if (isSeq(node)) for (const item of node.items) stack.push(item as Node);
    if (!isMap(node)) continue;
    // Most mappings are small: their names compared in a list, a Set only for large ones.
    const names: string[] = [];
    const seen = node.items.length > 16 ? new Set<string>() : undefined;
    for (const pair of node.items) {
      const key = pair.key as Node | null;
      if (!isScalar(key)) return { offset: key?.range?.[0] ?? node.range?.[0] ?? 0, message: 'keys must be plain scalars, not lists, mappings or aliases' };
      const name = String(key.value);
      if (seen ? seen.has(name) : names.includes(name)) return { offset: key.range?.[0] ?? 0, message: `duplicate key "${name}"` };
      if (seen) seen.add(name);
      else names.push(name);
      stack.push(pair.value as Node | null);
    }
  }
  return undefined;
}

/** Offset of the first collection nested deeper than max, found without recursion. */
function tooDeep(root: CST.Token, max: number): number | undefined {
  // Tokens and their depths side by side: a plan reads ten thousand documents, and a pair per token costs.
  const tokens: CST.Token[] = [root];
  const depths: number[] = [0];
  while (tokens.length) {
    const token = tokens.pop()!;
    const depth = depths.pop()!;
    if (depth > max) return token.offset;
    if (token.type === 'document') {
      if (token.value) (tokens.push(token.value), depths.push(depth));
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      for (const item of token.items) {
        if (item.key) (tokens.push(item.key), depths.push(depth + 1));
        if (item.value) (tokens.push(item.value), depths.push(depth + 1));
      }
    }
  }
  return undefined;
}
