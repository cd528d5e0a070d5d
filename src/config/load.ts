// Files and directories to resources with positions: expansion of -f paths, reading with limits,
// multi-document files, Kubernetes List objects, and the apiVersion/kind envelope.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import { API_VERSION, DEFAULT_NAMESPACE, KINDS, kindNamed } from '../api/index.js';
import type { Diagnostic } from './diagnostics.js';
import type { Limits } from './limits.js';
import type { LoadedResource } from './source.js';
import { closest } from './suggest.js';
import { bytePosition, decodeUtf8 } from './text.js';
import { parseYaml } from './yaml.js';

export interface Loaded {
  resources: LoadedResource[];
  diagnostics: Diagnostic[];
  files: number;
}

export interface TextSource {
  file: string;
  baseDir: string;
  root: string;
  bytes: Uint8Array;
}

/** A file to read, and the folder that was given for it. */
export interface InputFile {
  file: string;
  root: string;
}

const YAML_FILE = /\.ya?ml$/i;
const KIND_NAMES = KINDS.map((k) => k.kind);

function pathError(file: string, message: string): Diagnostic {
  return { file, line: 0, column: 0, message, code: 'input' };
}

/** The files behind -f arguments: files as given, directories walked for *.yaml and *.yml. */
export function expandPaths(paths: string[]): { files: InputFile[]; diagnostics: Diagnostic[] } {
  const files: InputFile[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const given of paths) {
    if (given === '-') {
      files.push({ file: given, root: process.cwd() });
      continue;
    }
    let stat;
    try {
      stat = statSync(given);
    } catch {
      diagnostics.push(pathError(given, 'no such file or directory'));
      continue;
    }
    if (!stat.isDirectory()) {
      files.push({ file: given, root: dirname(resolve(given)) });
      continue;
    }
    const found = walk(given);
    if (!found.length) diagnostics.push(pathError(given, 'no *.yaml or *.yml files in this directory'));
    files.push(...found.map((file) => ({ file, root: resolve(given) })));
  }
  return { files, diagnostics };
}

function walk(dir: string): string[] {
  const out: string[] = [];
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // .git and editor folders
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (YAML_FILE.test(e.name) && (e.isFile() || (e.isSymbolicLink() && statSync(p).isFile()))) out.push(p);
  }
  return out;
}

/** Read each file, refusing oversized ones before reading them. */
export function readSources(files: InputFile[], limits: Limits): { sources: TextSource[]; diagnostics: Diagnostic[] } {
  const sources: TextSource[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const { file, root } of files) {
    if (file === '-') {
      const bytes = readFileSync(0);
      if (bytes.byteLength > limits.maxFileBytes) diagnostics.push(pathError('<stdin>', `input is ${bytes.byteLength} bytes, above the limit of ${limits.maxFileBytes}`));
      else sources.push({ file: '<stdin>', baseDir: root, root, bytes });
      continue;
    }
    try {
      const size = statSync(file).size;
      if (size > limits.maxFileBytes) {
        diagnostics.push(pathError(file, `file is ${size} bytes, above the limit of ${limits.maxFileBytes}`));
        continue;
      }
      sources.push({ file, baseDir: dirname(resolve(file)), root, bytes: readFileSync(file) });
    } catch (e) {
      diagnostics.push(pathError(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`));
    }
  }
  return { sources, diagnostics };
}

export function loadSources(sources: TextSource[], limits: Limits): Loaded {
  const resources: LoadedResource[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const source of sources) {
    const decoded = decodeUtf8(source.bytes);
    if ('error' in decoded) {
      const { line, column } = bytePosition(source.bytes, decoded.offset);
      diagnostics.push({ file: source.file, line, column, message: decoded.error, code: 'encoding' });
      continue;
    }
    const parsed = parseYaml(source.file, decoded.text, limits);
    diagnostics.push(...parsed.errors);
    if (parsed.errors.length) continue;
    for (const doc of parsed.documents) {
      if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue; // empty, e.g. after a trailing ---
      loadDocument(source, doc, parsed.lineCounter, limits, resources, diagnostics);
    }
  }
  return { resources, diagnostics, files: sources.length };
}

function loadDocument(source: TextSource, doc: Document.Parsed, lineCounter: LineCounter, limits: Limits, out: LoadedResource[], diagnostics: Diagnostic[]) {
  const at = (node: Node | null | undefined, message: string, hint?: string, code = 'envelope'): void => {
    const { line, col } = lineCounter.linePos(node?.range?.[0] ?? 0);
    diagnostics.push({ file: source.file, line, column: col, message, ...(hint ? { hint } : {}), code });
  };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: limits.maxAliasCount });
  } catch (e) {
    at(doc.contents, `${(e as Error).message.includes('alias') ? `aliases expand too far (limit ${limits.maxAliasCount})` : (e as Error).message}`, undefined, 'limit');
    return;
  }
  const root = doc.contents as Node;
  if (!isMap(root) || !isObject(value)) {
    at(root, 'expected a resource: a mapping with apiVersion, kind, metadata and spec');
    return;
  }
  if (value.apiVersion === 'v1' && value.kind === 'List') {
    const items = root.get('items', true) as Node | undefined;
    if (!isSeq(items) || !Array.isArray(value.items)) {
      at(items ?? root, 'a List needs items: a list of resources');
      return;
    }
    value.items.forEach((item, i) => {
      const node = items.items[i] as Node;
      if (!isMap(node) || !isObject(item)) at(node, 'expected a resource: a mapping with apiVersion, kind, metadata and spec');
      else envelope(source, doc, node, lineCounter, item, out, at);
    });
    return;
  }
  envelope(source, doc, root, lineCounter, value, out, at);
}

function envelope(
  source: TextSource, doc: Document.Parsed, node: Node, lineCounter: LineCounter, value: Record<string, unknown>,
  out: LoadedResource[], at: (node: Node | null | undefined, message: string, hint?: string) => void,
) {
  const field = (key: string) => (isMap(node) ? (node.get(key, true) as Node | undefined) : undefined) ?? node;
  const { kind, apiVersion } = value;
  if (typeof kind !== 'string' || !kind) {
    at(node, 'missing kind', `mdmops kinds: ${KIND_NAMES.join(', ')}`);
    return;
  }
  const def = kindNamed(kind);
  if (!def) {
    const guess = closest(kind, KIND_NAMES);
    at(field('kind'), `unknown kind "${kind}"`, guess ? `did you mean ${guess}?` : `mdmops kinds: ${KIND_NAMES.join(', ')}`);
    return;
  }
  if (apiVersion !== API_VERSION) {
    at(field('apiVersion'), apiVersion === undefined ? 'missing apiVersion' : `apiVersion "${String(apiVersion)}" is not served for ${kind}`, `use apiVersion: ${API_VERSION}`);
    return;
  }
  const meta = isObject(value.metadata) ? value.metadata : {};
  out.push({
    file: source.file,
    baseDir: source.baseDir,
    root: source.root,
    doc,
    node,
    lineCounter,
    value,
    kind,
    name: typeof meta.name === 'string' ? meta.name : undefined,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : DEFAULT_NAMESPACE,
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

