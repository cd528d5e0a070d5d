// What a core sends its peers: the tenant's declared configuration as one versioned bundle. Every
// kind but the site-specific ones (Connector, CoreSyncTarget); files inline; secret refs as refs
// (the peer resolves them from its own secrets); never key material (a resource whose file is a
// PKCS#12 stays home, and is said so).
import { gzipSync } from 'node:zlib';
import { API_VERSION } from '../../api/index.js';
import { mapFileRefs } from '../../config/desired.js';
import type { ProviderContext } from '../../engine/provider.js';
import type { StoredRecord } from '../../store/types.js';
import { canonical, sha256 } from '../../util/canonical.js';

export const BUNDLE_FORMAT = 'mdmops-core-sync/1';

/** Kinds that belong to one site, never sent. */
export const SITE_KINDS = ['Connector', 'CoreSyncTarget'];

export interface BundleItem {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: unknown;
}

export interface Bundle {
  format: typeof BUNDLE_FORMAT;
  /** The sending core's name: the receiver's owner of what it gets. */
  core: string;
  tenant: string;
  /** Grows with each new content: a receiver refuses one older than what it applied. */
  generation: number;
  /** Of the items: the same content, the same hash, whatever the order the store lists them in. */
  sha256: string;
  items: BundleItem[];
}

/** The records a bundle carries. */
const sendable = (records: StoredRecord[]) => records.filter((r) => r.managed && !SITE_KINDS.includes(r.kind)).sort((a, b) => (a.kind + '/' + a.name < b.kind + '/' + b.name ? -1 : 1));

/** The content hash of what the records would send: cheap (no file is read; a file's digest is in its spec). */
export function contentHash(records: StoredRecord[]): string {
  return sha256(sendable(records).map((r) => `${r.kind}/${r.name} ${canonical(r.spec)} ${canonical(r.metadata ?? {})}`).join('\n'));
}

/** The bundle of the tenant's records (their contentHash given), gzipped, and the resources left home (with why). */
export async function buildBundle(ctx: ProviderContext, records: StoredRecord[], head: Pick<Bundle, 'core' | 'tenant' | 'generation' | 'sha256'>): Promise<{ body: Buffer; bundle: Bundle; left: string[] }> {
  const items: BundleItem[] = [];
  const left: string[] = [];
  const sent = sendable(records);
  for (const r of sent) {
    const paths: string[] = [];
    mapFileRefs(r.spec, (path) => paths.push(path));
    const contents = new Map<string, string>();
    for (const path of paths) {
      const bytes = await ctx.blob(r, `file:${path}`);
      const text = bytes?.toString('utf8');
      if (!bytes || text!.includes('\0') || !Buffer.from(text!, 'utf8').equals(bytes)) break;
      contents.set(path, text!);
    }
    if (contents.size < paths.length) {
      left.push(`${r.kind}/${r.name}: it holds a binary file (key material stays on its core)`);
      continue;
    }
    const spec = mapFileRefs(r.spec, (path) => ({ data: contents.get(path) }));
    items.push({ apiVersion: API_VERSION, kind: r.kind, metadata: { name: r.name, ...r.metadata }, spec });
  }
  const bundle: Bundle = { format: BUNDLE_FORMAT, ...head, items };
  return { body: gzipSync(JSON.stringify(bundle)), bundle, left };
}
