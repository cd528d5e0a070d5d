// A resource as found in a file, before and after validation.
import type { Document, LineCounter, Node } from 'yaml';
import type { KindDefinition, Resource } from '../api/index.js';

/** Where a resource was read: what is kept of it once a configuration is found valid. */
export interface ResourceOrigin {
  file: string;
  /** The line it begins on. */
  line: number;
  /** Folder that relative file references resolve against. */
  baseDir: string;
  /** The folder given with -f (or the given file's folder): file references stay inside it. */
  root: string;
  kind: string;
  name?: string;
  namespace: string;
}

/** A resource with the YAML nodes it was read from: what diagnostics are placed with. */
export interface LoadedResource extends ResourceOrigin {
  doc: Document.Parsed;
  node: Node;
  lineCounter: LineCounter;
  value: Record<string, unknown>;
}

export interface ValidResource<Source extends ResourceOrigin = ResourceOrigin> {
  resource: Resource;
  def: KindDefinition;
  source: Source;
}

/** A valid resource without its YAML nodes: a configuration with nothing to report lets them go. */
export const released = ({ resource, def, source }: ValidResource): ValidResource => ({
  resource,
  def,
  source: { file: source.file, line: source.line, baseDir: source.baseDir, root: source.root, kind: source.kind, name: source.name, namespace: source.namespace },
});
