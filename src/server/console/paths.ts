// Where the console shows a resource: its pages link there, and notifications sent out link there too.
import type { ResourceId } from '../../store/types.js';

export const resourcePath = (r: ResourceId) => `/ui/resources/${encodeURIComponent(r.tenant)}/${encodeURIComponent(r.kind)}/${encodeURIComponent(r.name)}`;
