// The files generated from the kinds: editor JSON Schemas and the chart's CRDs.
import { stringify } from 'yaml';
import { KINDS, combinedEditorSchema, editorSchema, kindFileStem } from '../api/index.js';
import { crdFor } from '../kube/crd.js';

const HEADER = '# Generated from src/api by `npm run generate`; do not edit.\n';

/** Relative path -> content. */
export function generatedFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const def of KINDS) {
    files.set(`schemas/${kindFileStem(def.kind)}.json`, JSON.stringify(editorSchema(def), null, 2) + '\n');
    files.set(`charts/mdmops/crds/${def.plural}.mdmops.io.yaml`, HEADER + stringify(crdFor(def), { lineWidth: 0 }));
  }
  files.set('schemas/all.json', JSON.stringify(combinedEditorSchema(KINDS), null, 2) + '\n');
  return files;
}
