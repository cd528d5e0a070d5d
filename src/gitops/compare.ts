// The change between two revisions of a configuration, without a tenant: the plan `to` would get
// from a tenant that holds exactly `from`, applied from this source. The engine's own planner does
// the work, over an in-memory store holding `from` and providers that look at nothing but the
// specs (so: no server is asked, no key is read; what a change replaces comes from each kind's
// replaceOn).
import { KINDS } from '../api/index.js';
import type { Desired } from '../config/desired.js';
import { recordOf } from '../config/desired.js';
import { makePlan, type Plan } from '../engine/plan.js';
import { ProviderRegistry, type Provider } from '../engine/provider.js';
import type { MasterKey } from '../store/master-key.js';
import type { InventoryEntry, ResourceId, Store, StoredRecord } from '../store/types.js';

/** What a tenant would hold after `from` was applied: records and inventory, nothing else. */
class RevisionStore implements Store {
  readonly location = 'a revision';
  readonly writes = 0;
  constructor(
    private readonly records: StoredRecord[],
    private readonly inventory: InventoryEntry[],
  ) {}
  async getMeta() {
    return undefined;
  }
  async listRecords() {
    return this.records;
  }
  async getRecord() {
    return undefined;
  }
  async listInventory(source?: string) {
    return this.inventory.filter((e) => !source || e.source === source);
  }
  async getInventory(id: ResourceId) {
    return this.inventory.find((e) => e.tenant === id.tenant && e.kind === id.kind && e.name === id.name);
  }
  async getBlob() {
    return undefined;
  }
  async listBlobs() {
    return [];
  }
  async listNotifications() {
    return [];
  }
  async listAudit() {
    return [];
  }
  // What the console reads: a revision compared offline is no one's console.
  async listRecordsMentioning() {
    return [];
  }
  async countNotifications() {
    return 0;
  }
  async listRecordSummaries() {
    return { rows: [], total: 0 };
  }
  async forEachRecordSummary() {}
  async countRecords() {
    return { byKindReady: [], kinds: [], tenants: [] };
  }
  async listSyncHistory() {
    return [];
  }
  async getAppliedSpec() {
    return undefined;
  }
  async listUsers() {
    return [];
  }
  async listUsersPage() {
    return { users: [], total: 0 };
  }
  async forEachUser() {}
  async forEachUserValues() {}
  async listUserDigests() {
    return new Map<string, string>();
  }
  async listInvitations() {
    return [];
  }
  async listProvisioned() {
    return new Map<string, boolean>();
  }
  async getProvisionedState() {
    return undefined;
  }
  async userVersion() {
    return 0;
  }
  async listCertificates() {
    return [];
  }
  async listCertificateFacts() {
    return [];
  }
  async commit(): Promise<void> {
    throw new Error('a revision compared offline is not written to');
  }
  async lock() {
    return undefined;
  }
  async renew() {
    return true;
  }
  async unlock() {}
  async close() {}
}

function offlineProvider(real: Provider): Provider {
  const unavailable = () => Promise.reject(new Error('not applied: an offline comparison'));
  // Only what the spec tells (replaceOn): nothing is observed, asked or warned of.
  return {
    kind: real.kind,
    replaceOn: real.replaceOn,
    observe: async () => ({ ready: { status: true, reason: 'Offline', message: 'not observed' } }),
    create: unavailable,
    update: unavailable,
    delete: unavailable,
  };
}

export interface CompareOptions {
  source: string;
  /** Shown as the plan's revision, e.g. "main..HEAD". */
  revision: string;
  providers: ProviderRegistry;
  key: MasterKey;
}

export async function compareRevisions(from: Desired[], to: Desired[], opts: CompareOptions): Promise<Plan> {
  const at = new Date(0).toISOString();
  const records: StoredRecord[] = from.map((d) => recordOf(d, { generation: 1, status: {}, updatedAt: at }));
  const inventory = from.map((d) => ({ ...d.id, source: opts.source, revision: 'from', appliedAt: at }));
  const engine = { store: new RevisionStore(records, inventory), key: opts.key, providers: new ProviderRegistry(KINDS.map((k) => offlineProvider(opts.providers.get(k.kind)))) };
  return makePlan(engine, to, { source: opts.source, revision: opts.revision });
}
