// Files and directories to resources with positions: expansion of -f paths, reading with limits,
// multi-document files, Kubernetes List objects, and the apiVersion/kind envelope.
import { readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Document, isMap, isScalar, isSeq, LineCounter, type Node } from 'yaml';
import { API_VERSION, DEFAULT_NAMESPACE, KINDS, kindNamed } from '../api/index.js';
import { lowerFirst, type Diagnostic } from './diagnostics.js';
import type { Limits } from './limits.js';
import type { LoadedResource } from './source.js';
import { closest } from './suggest.js';
import { bytePosition, decodeUtf8 } from './text.js';
import { parseYaml } from './yaml.js';
import { messageOf } from '../util/message-of.js';

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

function pathError(file: string, message: string, code = 'input'): Diagnostic {
  return { file, line: 0, column: 0, message, code };
}

/** The files behind -f arguments: files as given, directories walked for *.yaml and *.yml. */
export function expandPaths(paths: string[]): { files: InputFile[]; diagnostics: Diagnostic[] } {
  const files: InputFile[] = [];
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const add = (file: string, root: string) => {
    const key = file === '-' ? file : resolve(file);
    if (!seen.has(key)) files.push({ file, root });
    seen.add(key);
  };
  for (const given of paths) {
    if (given === '-') {
      add(given, process.cwd());
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
      add(given, dirname(resolve(given)));
      continue;
    }
    const found = walk(given);
    if (!found.length) diagnostics.push(pathError(given, 'no *.yaml or *.yml files in this directory'));
    for (const file of found) add(file, resolve(given));
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
    // A symlink is read like a file; a broken one is reported when it is read.
    else if (YAML_FILE.test(e.name) && (e.isFile() || e.isSymbolicLink())) out.push(p);
  }
  return out;
}

/**
 * Read each file, refusing oversized ones before reading them. `label` names a file in messages
 * (a revision checked out elsewhere is named as it is in the repository).
 */
export function readSources(files: InputFile[], limits: Limits, label: (file: string) => string = (f) => f): { sources: TextSource[]; diagnostics: Diagnostic[] } {
  const sources: TextSource[] = [];
  const diagnostics: Diagnostic[] = [];
  let total = 0;
  const tooMuch = (file: string, size: number) => {
    if (total + size <= limits.maxTotalBytes) {
      total += size;
      return false;
    }
    diagnostics.push(pathError(file, `the configuration is above the limit of ${limits.maxTotalBytes} bytes in all (${total} read before this file of ${size}): nothing further is read; split it into several configurations (--source)`, 'limit'));
    return true;
  };
  for (const { file, root } of files) {
    if (total > limits.maxTotalBytes) break;
    if (file === '-') {
      const bytes = readCapped(0, limits.maxFileBytes);
      if (!bytes) diagnostics.push(pathError('<stdin>', `input is above the limit of ${limits.maxFileBytes} bytes`));
      else if (!tooMuch('<stdin>', bytes.length)) sources.push({ file: '<stdin>', baseDir: root, root, bytes });
      else break;
      continue;
    }
    try {
      const stat = statSync(file);
      if (!stat.isFile()) {
        diagnostics.push(pathError(label(file), 'not a regular file'));
        continue;
      }
      if (stat.size > limits.maxFileBytes) {
        diagnostics.push(pathError(label(file), `file is ${stat.size} bytes, above the limit of ${limits.maxFileBytes}`));
        continue;
      }
      if (tooMuch(label(file), stat.size)) break;
      sources.push({ file: label(file), baseDir: dirname(resolve(file)), root, bytes: readFileSync(file) });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file (a broken symlink?)' : code === 'ELOOP' ? 'symlink loop' : code === 'EACCES' ? 'permission denied' : messageOf(e);
      diagnostics.push(pathError(label(file), `cannot read: ${why}`));
    }
  }
  return { sources, diagnostics };
}

/** Reads a descriptor to its end, or returns undefined past max bytes (a pipe has no size to check first). */
function readCapped(fd: number, max: number): Buffer | undefined {
  const chunks: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, chunk, 0, chunk.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue; // non-blocking stdin with nothing yet
      throw e;
    }
    if (n === 0) break;
    total += n;
    if (total > max) return undefined;
    chunks.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(chunks);
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
    for (const doc of parsed.documents) {
      if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) continue; // empty, e.g. after a trailing ---
      loadDocument(source, doc, parsed.lineCounter, limits, resources, diagnostics);
    }
    if (resources.length > limits.maxTotalResources) {
      diagnostics.push({ file: source.file, line: 0, column: 0, message: `the configuration holds more than ${limits.maxTotalResources} resources: nothing further is read; split it into several configurations (--source)`, code: 'limit' });
      break;
    }
  }
  return { resources, diagnostics, files: sources.length };
}

/**
 * Resources that arrive parsed (a peer core's bundle), read as the documents of a file are, without
 * a YAML parser (which costs ten times JSON.parse on large input). Each gets a document made from
 * its value, so diagnostics find their fields; they have no lines to name.
 */
export function loadValues(source: Omit<TextSource, 'bytes'>, values: unknown[], limits: Limits): Loaded {
  const resources: LoadedResource[] = [];
  const diagnostics: Diagnostic[] = [];
  const lineCounter = new LineCounter();
  const at = (message: string, hint?: string) => diagnostics.push({ file: source.file, line: 0, column: 0, message, ...(hint ? { hint } : {}), code: 'envelope' });
  for (const value of values.slice(0, limits.maxTotalResources + 1)) {
    if (!isObject(value)) {
      at('expected a resource: a mapping with apiVersion, kind, metadata and spec');
      continue;
    }
    const doc = new Document(value) as unknown as Document.Parsed;
    envelope({ ...source, bytes: new Uint8Array() }, doc, doc.contents as Node, lineCounter, value, resources, (_node, message, hint) => at(message, hint));
  }
  if (values.length > limits.maxTotalResources) at(`more than ${limits.maxTotalResources} resources: nothing further is read`);
  return { resources, diagnostics, files: 1 };
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
    const bomb = /excessive alias count/i.test(messageOf(e));
    at(doc.contents, bomb ? `aliases expand too far (limit ${limits.maxAliasCount})` : lowerFirst(messageOf(e)), undefined, 'limit');
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
  if (kind === undefined || kind === null || kind === '') {
    at(node, 'missing kind', `mdmops kinds: ${KIND_NAMES.join(', ')}`);
    return;
  }
  const def = typeof kind === 'string' ? kindNamed(kind) : undefined;
  if (!def) {
    const guess = typeof kind === 'string' ? closest(kind, KIND_NAMES) : undefined;
    at(field('kind'), `unknown kind ${typeof kind === 'string' ? `"${clip(kind)}"` : `(a ${typeof kind}; kind is a string)`}`, guess ? `did you mean ${guess}?` : `mdmops kinds: ${KIND_NAMES.join(', ')}`);
    return;
  }
  if (apiVersion !== API_VERSION) {
    at(field('apiVersion'), apiVersion === undefined ? 'missing apiVersion' : `apiVersion "${clip(String(apiVersion))}" is not served for ${kind}`, `use apiVersion: ${API_VERSION}`);
    return;
  }
  const meta = isObject(value.metadata) ? value.metadata : {};
  out.push({
    file: source.file,
    line: lineCounter.linePos(node.range?.[0] ?? 0).line,
    baseDir: source.baseDir,
    root: source.root,
    doc,
    node,
    lineCounter,
    value,
    kind: def.kind,
    name: typeof meta.name === 'string' ? meta.name : undefined,
    namespace: typeof meta.namespace === 'string' ? meta.namespace : DEFAULT_NAMESPACE,
  });
}

/** Echoed values stay short. */
function clip(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

