// A resource as found in a file, before and after validation.
import type { Document, LineCounter, Node } from 'yaml';
import type { KindDefinition, Resource } from '../api/index.js';

export interface LoadedResource {
  file: string;
  /** Folder that relative file references resolve against. */
  baseDir: string;
  /** The folder given with -f (or the given file's folder): file references stay inside it. */
  root: string;
  doc: Document.Parsed;
  node: Node;
  lineCounter: LineCounter;
  value: Record<string, unknown>;
  kind: string;
  name?: string;
  namespace: string;
}

export interface ValidResource {
  resource: Resource;
  def: KindDefinition;
  source: LoadedResource;
}
