// Where each kind's custom resources live in the API.
import { API_VERSION, type KindDefinition } from '../api/index.js';

const API_PREFIX = `/apis/${API_VERSION}`;

/** The collection of a kind in one namespace, or in all of them. */
export const collectionPath = (def: KindDefinition, namespace?: string) =>
  namespace ? `${API_PREFIX}/namespaces/${encodeURIComponent(namespace)}/${def.plural}` : `${API_PREFIX}/${def.plural}`;

export const resourcePath = (def: KindDefinition, namespace: string, name: string) => `${collectionPath(def, namespace)}/${encodeURIComponent(name)}`;
