// The provider contract: how one kind is observed, created, updated and deleted.
// The engine drives providers through this and never names a kind.
import type { Tunnels } from '../net/dial.js';
import type { OutboundPolicy } from '../net/outbound.js';
import type { MasterKey } from '../store/master-key.js';
import type { ResourceId, Severity, Store, StoredRecord, Write } from '../store/types.js';
import type { Desired } from '../config/desired.js';
import type { SecretRef, SecretResolver } from '../config/secrets.js';

export interface Notice {
  reason: string;
  severity: Severity;
  message: string;
}

/** What a provider found or made: the kind's status, readiness and anything to tell an administrator. */
export interface Outcome {
  ready: { status: boolean; reason: string; message: string };
  /** Kind-specific status fields (conditions are the engine's). */
  status?: Record<string, unknown>;
  notices?: Notice[];
  /** Key material to keep, sealed under the master key, committed with the record. */
  blobs?: { purpose: string; value: Buffer }[];
  /** More of the kind's own state (issued certificates), committed with the record. */
  writes?: Write[];
  /** When to look again (a renewal due), when sooner than the next resync. */
  requeueAfterMs?: number;
}

/** What the plan sees of a resource: the engine's reading of its provider (engine/observe.ts). */
export interface Observation {
  outcome: Outcome;
  /** Changed fields that cannot be updated in place: the resource is replaced. */
  replace: string[];
  /** Consequences a reviewer should see, e.g. how many certificates a change re-issues. */
  impact: string[];
  /** Work an update would do although the spec is unchanged (a renewal, certificates to issue). */
  pending?: string[];
}

export interface ProviderContext {
  store: Store;
  key: MasterKey;
  /** The record of another resource as it stands now (e.g. the CA a configuration uses). */
  record(id: ResourceId): Promise<StoredRecord | undefined>;
  /** Key material of a resource, opened. */
  blob(id: ResourceId, purpose: string): Promise<Buffer | undefined>;
  /** Long work says how far it is, e.g. (1200, 2000, 'identity certificates'); the CLI shows it on a terminal. */
  progress?(done: number, total: number, unit: string): void;
  /** Where a tenant's URLs may lead (net/outbound.ts). */
  outbound: OutboundPolicy;
  /** The tunnels of the tenants' connector agents: how servers inside a customer network are reached. */
  tunnels?: Tunnels;
  /** Where the tenant's secrets are read, during a reconcile: a deletion's cleanup may need one (a database URL). */
  secrets?: SecretResolver;
  /** This core's name, as its peers know it (--core-name). */
  coreName?: string;
}

/** A server a resource reaches through a connector: the connector's name and the server's URL, or the secret that holds it (a database URL holds credentials). */
export type ConnectorRoute = { connector: string } & ({ url: string } | { urlSecretRef: SecretRef });

/** What a kind makes on creation or update (keys, certificates, an account), committed with its record. */
export type Made = Pick<Outcome, 'blobs' | 'status' | 'writes'>;

/** What observing a resource found: readiness (Ready with the default reason when not said), status fields, notices. */
export type Observed = Partial<Pick<Outcome, 'ready' | 'status' | 'notices' | 'requeueAfterMs'>>;

/** A desired resource or a record, its spec typed. A record's spec is what the tenant holds: mdmops wrote it, or an edit it checked. */
export type WithSpec<T extends { spec: unknown }, Spec> = Omit<T, 'spec'> & { spec: Spec };

/**
 * How one kind is observed, created, updated and deleted, as Crossplane's ExternalClient: the engine
 * keeps the resource's record (spec, conditions, notifications, inventory) and calls these for what
 * the kind knows beyond it. Each providers/<kind>/index.ts registers one, its Spec typed from the
 * kind's zod schema (providers/record.ts, defineProvider). Every method is optional: a kind that
 * only keeps its record (Space) gives none. Observing changes nothing; every call is idempotent.
 */
export interface Provider<Spec = Record<string, unknown>> {
  kind: string;
  /** Spec fields (top-level names or dotted prefixes) whose change replaces the resource: what an offline diff can tell. */
  replaceOn?: readonly string[];
  /**
   * What the resource looks like now, given its status so far (record undefined before it is made):
   * readiness, status fields, notices. Called on every plan and after every create or update.
   */
  observe?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, status: Record<string, unknown>, record: WithSpec<StoredRecord, Spec> | undefined): Promise<Observed>;
  /** Work an update would do although the spec is unchanged (a renewal, certificates to issue). Changes nothing. */
  pending?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec> | undefined): Promise<string[]>;
  /** What replacing the resource (record: as it is now) does, for a reviewer. Changes nothing. */
  impact?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec>, replace: string[]): Promise<string[]>;
  /** What a reviewer must be told of the desired spec whenever it changes (a password sent in clear). Pure. */
  warnings?(desired: WithSpec<Desired, Spec>): string[];
  /** Makes what a new resource needs outside its record: keys, certificates, an account. */
  create?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>): Promise<Made>;
  /** Brings what the resource made up to its spec, or does the work pending found (a renewal). */
  update?(ctx: ProviderContext, desired: WithSpec<Desired, Spec>, record: WithSpec<StoredRecord, Spec>): Promise<Made>;
  /** Cleans up outside the store; the engine removes the record (Delete) or lets go of it (Orphan). Returns the kind's own state to remove with it (issued certificates). */
  delete?(ctx: ProviderContext, record: WithSpec<StoredRecord, Spec>, policy: 'Delete' | 'Orphan'): Promise<Write[] | void>;
  /** Kinds that bring data in on a schedule (identity sources): one round now, recorded in the store. */
  sync?(ctx: ProviderContext, secrets: SecretResolver, record: WithSpec<StoredRecord, Spec>, options: SyncOptions): Promise<SyncReport>;
  /** With sync: when the record is next due (0: now), or undefined when it is not synced on a schedule. Pure. */
  syncDueAt?(record: WithSpec<StoredRecord, Spec>): number | undefined;
  /** The servers a spec names through connectors: the only destinations their agents dial. Pure. */
  routes?(spec: Spec): ConnectorRoute[];
}

export interface SyncOptions {
  /** Confirms a round that deletes more than the guard allows. */
  allowMassDelete?: boolean;
  /** Now, though not due (an administrator asked: mdmops sync). */
  force?: boolean;
  actor: string;
  now?: Date;
  /** Called as work goes: how many so far, and how many the last round had; or, with `unit`, how many of exactly `expected` (rows written). */
  progress?: (done: number, expected?: number, unit?: string) => void;
}

export interface SyncReport {
  userCount: number;
  added: number;
  updated: number;
  removed: number;
  /** The source could not be read: nothing changed. */
  error?: string;
  /** The round looked like an accident (mass delete, empty answer): nothing changed. */
  blocked?: string;
  /** Things an administrator should know although the round was applied. */
  warnings: string[];
  /** What the round did, in the kind's words, when users are not what it counts: "120 rows (3 inserted, ...)". */
  summary?: string;
  /** Nothing was due after all: nothing done, nothing to say. */
  idle?: boolean;
}

export class ProviderRegistry {
  private readonly byKind = new Map<string, Provider>();

  constructor(providers: Provider[]) {
    for (const p of providers) {
      if (this.byKind.has(p.kind)) throw new Error(`kind ${p.kind} has two providers`);
      this.byKind.set(p.kind, p);
    }
  }

  /** The kinds registered, in registration order. */
  get kinds(): string[] {
    return [...this.byKind.keys()];
  }

  get(kind: string): Provider {
    const p = this.byKind.get(kind);
    if (!p) throw new Error(`no provider registered for kind ${kind}`);
    return p;
  }
}
