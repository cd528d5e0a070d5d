// The engine alone, on a real SQLite store: ordering, bounded parallelism, and failures that
// block only what depends on them. The providers here are the test's own.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyPlan } from '../src/engine/apply.js';
import { canonical, canonicallyEqual, sha256 } from '../src/util/canonical.js';
import type { Engine } from '../src/engine/context.js';
import { idKey, type Desired } from '../src/config/desired.js';
import { makePlan, planResource } from '../src/engine/plan.js';
import { reconcileResource, WAITING_REQUEUE_MS } from '../src/engine/reconcile.js';
import { ProviderRegistry, type Provider } from '../src/engine/provider.js';
import { conditionOf } from '../src/engine/status.js';
import { ExpectedError, TerminalError } from '../src/util/errors.js';
import { StandaloneSecrets } from '../src/config/secrets.js';
import { MasterKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';

const dir = mkdtempSync(join(tmpdir(), 'mdmops-engine-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function desired(kind: string, name: string, refs: { kind: string; name: string }[] = []): Desired {
  const id = { tenant: 'default', kind, name };
  const spec = { n: name };
  const specHash = sha256(canonical(spec));
  return { id, key: idKey(id), spec, references: refs.map((r) => ({ ...r, path: ['spec'] })), files: {}, secrets: {}, specHash, desiredHash: specHash };
}

/** Records the order and overlap of create calls; fails for the names it is told to. */
function testProvider(kind: string, log: string[], failing: Set<string>, inFlight: { now: number; max: number }): Provider {
  return {
    kind,
    observe: async () => ({ ready: { status: true, reason: 'Ok', message: '' } }),
    async create(_ctx, d) {
      inFlight.now++;
      inFlight.max = Math.max(inFlight.max, inFlight.now);
      await new Promise((r) => setTimeout(r, 30));
      inFlight.now--;
      log.push(d.id.name);
      if (failing.has(d.id.name)) throw new Error(`${d.id.name} refused by the server`);
      return {};
    },
    update: async () => ({}),
    delete: async () => undefined,
  };
}

describe('apply order and failures', () => {
  let engine: Engine;
  const log: string[] = [];
  const inFlight = { now: 0, max: 0 };
  beforeAll(async () => {
    const failing = new Set(['broken']);
    engine = {
      store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'e.db')}`)),
      key: new MasterKey(randomBytes(32)),
      providers: new ProviderRegistry([testProvider('Connector', log, failing, inFlight), testProvider('LdapSource', log, failing, inFlight), testProvider('Space', log, failing, inFlight)]),
    };
  });
  afterAll(() => engine.store.close());

  it('applies dependencies first, in parallel up to the bound, and blocks only the dependents of a failure', async () => {
    const input = [
      desired('LdapSource', 'on-broken', [{ kind: 'Connector', name: 'broken' }]),
      desired('LdapSource', 'on-ok', [{ kind: 'Connector', name: 'ok' }]),
      desired('Connector', 'broken'),
      desired('Connector', 'ok'),
      ...Array.from({ length: 6 }, (_, i) => desired('Space', `s${i}`)),
    ];
    const plan = await makePlan(engine, input, { source: 'test', revision: 'r1' });
    expect(plan.changes.filter((c) => c.action === 'create')).toHaveLength(10);
    const result = await applyPlan(engine, plan, { concurrency: 3, actor: 'test', secrets: new StandaloneSecrets(dir) });
    const state = Object.fromEntries(result.results.map((r) => [r.change.id.name, r.state]));
    expect(state).toMatchObject({ broken: 'failed', 'on-broken': 'blocked', ok: 'done', 'on-ok': 'done', s0: 'done', s5: 'done' });
    expect(log.indexOf('ok')).toBeLessThan(log.indexOf('on-ok'));
    expect(log).not.toContain('on-broken');
    expect(inFlight.max).toBe(3);
    expect(result.results.find((r) => r.change.id.name === 'on-broken')!.message).toBe('waits for Connector/broken, which did not apply');

    const notes = await engine.store.listNotifications({ active: true });
    expect(notes.map((n) => [n.name, n.reason, n.message])).toEqual([['broken', 'ReconcileFailed', 'broken refused by the server']]);
    expect(await engine.store.getRecord({ tenant: 'default', kind: 'Connector', name: 'broken' })).toBeUndefined();
    expect(await engine.store.getRecord({ tenant: 'default', kind: 'LdapSource', name: 'on-ok' })).toBeDefined();
  });

  it('makes no store write when nothing changed', async () => {
    const input = [desired('Connector', 'ok'), desired('LdapSource', 'on-ok', [{ kind: 'Connector', name: 'ok' }])];
    // Prune guard: the plan would drop the others; allowed here, then a second identical apply writes nothing.
    await applyPlan(engine, await makePlan(engine, input, { source: 'test', revision: 'r2', allowMassDelete: true }), { actor: 't', secrets: new StandaloneSecrets(dir) });
    const again = await applyPlan(engine, await makePlan(engine, input, { source: 'test', revision: 'r3' }), { actor: 't', secrets: new StandaloneSecrets(dir) });
    expect(again.writes).toBe(0);
    expect(again.results.every((r) => r.state === 'unchanged')).toBe(true);
  });
});

describe('the reconcile of one resource', () => {
  let engine: Engine;
  let ready = false;
  beforeAll(async () => {
    const waiting: Provider = {
      kind: 'Connector',
      observe: async () => ({ ready: { status: ready, reason: ready ? 'Ok' : 'Unreachable', message: ready ? '' : 'no answer' }, notices: ready ? [] : [{ reason: 'Unreachable', severity: 'Warning', message: 'no answer' }] }),
    };
    engine = { store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'one.db')}`)), key: new MasterKey(randomBytes(32)), providers: new ProviderRegistry([waiting]) };
  });
  afterAll(() => engine.store.close());
  const run = { source: 'test', revision: 'r1', actor: 't', secrets: new StandaloneSecrets(dir) };

  it('plans it alone, returns the record it wrote, what it raised, and when to look again', async () => {
    const d = desired('Connector', 'waits');
    const plan = await planResource(engine, d, run);
    expect(plan.changes.map((c) => c.action)).toEqual(['create']);
    const first = await reconcileResource(engine, plan.changes[0]!, run);
    expect(first).toMatchObject({ state: 'done', ready: false, requeueAfterMs: WAITING_REQUEUE_MS });
    expect(first.raised.map((n) => n.reason)).toEqual(['Unreachable']);
    expect(first.record).toEqual(await engine.store.getRecord(d.id));

    // Nothing new to say: nothing raised again; once Ready, nothing to come back for.
    expect((await reconcileResource(engine, (await planResource(engine, d, run)).changes[0]!, run)).raised).toEqual([]);
    ready = true;
    const after = await reconcileResource(engine, (await planResource(engine, d, run)).changes[0]!, run);
    expect(after).toMatchObject({ ready: true, requeueAfterMs: undefined, raised: [] });
    expect(await engine.store.listNotifications({ active: true })).toEqual([]);

    // Owned by another source: refused, as a whole plan would.
    expect((await planResource(engine, d, { ...run, source: 'other' })).problems[0]!.message).toBe('Connector/waits is managed by source "test" (revision r1)');
  });
});

describe('failures: expected, terminal and unexpected', () => {
  let engine: Engine;
  let fail: (() => never) | undefined;
  beforeAll(async () => {
    const refusing: Provider = {
      kind: 'Space',
      async update() {
        return fail?.() ?? {};
      },
    };
    engine = { store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'fail.db')}`)), key: new MasterKey(randomBytes(32)), providers: new ProviderRegistry([refusing]) };
  });
  afterAll(() => engine.store.close());
  const run = { source: 'test', revision: 'r1', actor: 't', secrets: new StandaloneSecrets(dir) };
  const d = desired('Space', 'refused');
  /** An edit of its spec, reconciled as the controller reconciles one resource. */
  const edit = async (n: string) => reconcileResource(engine, (await planResource(engine, { ...d, spec: { n }, specHash: n, desiredHash: n }, run)).changes[0]!, run);
  const synced = async () => conditionOf((await engine.store.getRecord(d.id))?.status, 'Synced');
  const active = async () => (await engine.store.listNotifications({ active: true })).map((n) => [n.reason, n.severity, n.message]);

  it('says a terminal failure by its reason, and does not ask to be tried again', async () => {
    await reconcileResource(engine, (await planResource(engine, d, run)).changes[0]!, run);
    fail = () => {
      throw new TerminalError('SpecRefused', 'the server refuses this spec for good');
    };
    const refused = await edit('b');
    expect(refused).toMatchObject({ state: 'failed', terminal: true, reason: 'SpecRefused' });
    expect(refused.requeueAfterMs).toBeUndefined();
    expect(await synced()).toMatchObject({ status: 'False', reason: 'SpecRefused', message: 'the server refuses this spec for good' });
    expect(await active()).toEqual([['SpecRefused', 'Error', 'the server refuses this spec for good']]);
  });

  it('says an expected failure by its reason, to be tried again; an unexpected one as ReconcileFailed', async () => {
    fail = () => {
      throw new ExpectedError('ServerUnreachable', 'no answer from the server');
    };
    expect(await edit('c')).toMatchObject({ state: 'failed', terminal: false, reason: 'ServerUnreachable' });
    expect(await synced()).toMatchObject({ status: 'False', reason: 'ServerUnreachable', message: 'no answer from the server' });
    fail = () => {
      throw new Error('a bug');
    };
    expect(await edit('d')).toMatchObject({ state: 'failed', terminal: false, reason: 'ReconcileFailed' });
    expect(await synced()).toMatchObject({ status: 'False', reason: 'ReconcileError', message: 'a bug' });
    fail = undefined;
    expect(await edit('e')).toMatchObject({ state: 'done' });
    expect(await synced()).toMatchObject({ status: 'True', reason: 'ReconcileSuccess' });
  });
});

describe('comparing values as canonical text does', () => {
  it('agrees with canonical(), whatever the key order, leaving out undefined fields', () => {
    const pairs: [unknown, unknown][] = [
      [{ a: 1, b: [1, { c: 'x', d: undefined }] }, { b: [1, { c: 'x' }], a: 1 }],
      [{ a: 1 }, { a: 1, b: undefined }],
      [{ a: 1 }, { a: 2 }],
      [{ a: 1 }, { a: 1, b: null }],
      [{ a: [1, 2] }, { a: [2, 1] }],
      [{ a: [1] }, { a: [1, 1] }],
      [{ a: {} }, { a: [] }],
      [{ a: '1' }, { a: 1 }],
      ['text', 'text'],
      [null, {}],
    ];
    for (const [a, b] of pairs) expect(canonicallyEqual(a, b), `${canonical(a)} ${canonical(b)}`).toBe(canonical(a) === canonical(b));
  });
});
