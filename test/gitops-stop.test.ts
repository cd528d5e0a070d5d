// SIGTERM while a big revision is being applied (Local CAs with RSA-4096 keys): after the grace
// period no further resource starts, those under way commit whole, the store stays consistent, the
// revision is recorded as partly applied and the next start converges, keeping every key it made.
// With a grace period long enough, the revision is finished before mdmops exits.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobAad } from '../src/engine/context.js';
import { privateKey, publicKeySha256 } from '../src/pki/keys.js';
import { parseKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { makeRepos } from './support/git.js';
import { startRun } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const cas = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => doc('CertificateAuthority', `ca-${from + i}`, `type: Local\nsubject: { commonName: CA ${from + i} }\nkeyAlgorithm: RSA-4096`)).join('');

/** What the store holds: each CA's key checked against its status, records against the inventory, the run state. */
async function storeState(dir: string) {
  const key = parseKey(readFileSync(join(dir, '.mdmops/master.key'), 'utf8'), 'master.key');
  const store = await openStore(parseStoreSpec(undefined, dir));
  try {
    const keys = new Map<string, string>();
    for (const r of await store.listRecords({ kind: 'CertificateAuthority' })) {
      expect(await store.listBlobs(r), r.name).toEqual(['private-key']);
      const fp = publicKeySha256(privateKey(key.open((await store.getBlob(r, 'private-key'))!, blobAad(r, 'private-key'))));
      expect(r.status.publicKeySha256, r.name).toBe(fp);
      keys.set(r.name, fp);
    }
    const inventory = (await store.listInventory()).map((e) => e.name).sort();
    expect(inventory).toEqual([...keys.keys()].sort()); // no record without its inventory entry, nor the reverse
    const state = JSON.parse((await store.getMeta('run:default')) ?? '{}');
    return { keys, state };
  } finally {
    await store.close();
  }
}

describe('mdmops run stopped by SIGTERM', () => {
  const ws = workspace();
  const repos = makeRepos(ws.dir);
  const args = ['--git', repos.origin, '--path', 'config', '--interval', '1h', '--concurrency', '2'];
  let first: Map<string, string>;
  let sha1: string;

  it('after the grace period, finishes the resources under way, starts no other, and records the revision as partly applied', async () => {
    sha1 = repos.commit('24 certificate authorities', { 'config/cas.yaml': cas(0, 24) });
    repos.push('main');
    const run = await startRun(ws.dir, [...args, '--grace-period', '0s']);
    await run.waitFor('the apply to be under way', (s) => s.applying?.revision === sha1 && s.applying.done >= 1);
    expect(await run.stop('SIGTERM')).toBe(0);
    expect(run.output()).toContain('"reason":"ApplyInterrupted"');

    const { keys, state } = await storeState(ws.dir);
    first = keys;
    expect(keys.size).toBeGreaterThan(0);
    expect(keys.size).toBeLessThan(24);
    expect(state.partial).toMatchObject({ revision: sha1, done: keys.size, total: 24 });
    expect(state.applied).toBeUndefined();
    const notes = JSON.parse(ws.run(['notifications', '-o', 'json']).stdout) as { reason: string; message: string }[];
    expect(notes.find((n) => n.reason === 'ApplyInterrupted')?.message).toContain(`${keys.size} of 24 resources done`);
  }, 180_000);

  it('applies the rest at the next start, keeping the keys made before', async () => {
    const run = await startRun(ws.dir, args);
    await run.waitFor('the revision to be applied whole', (s) => s.applied?.revision === sha1 && !s.partial, 170_000);
    expect(run.output()).toContain('was partly applied');
    expect(await run.stop()).toBe(0);

    const { keys, state } = await storeState(ws.dir);
    expect(keys.size).toBe(24);
    for (const [name, fp] of first) expect(keys.get(name), name).toBe(fp);
    expect(state.partial).toBeUndefined();
    const plan = ws.run(['plan', '-f', join(repos.clone, 'config')]);
    expect(plan.stdout).toContain('No changes: 24 resources up to date.');
    const audit = JSON.parse(ws.run(['audit', '-o', 'json', '--limit', '1000']).stdout) as { action: string; name: string }[];
    const creates = audit.filter((a) => a.action === 'create').map((a) => a.name);
    expect(new Set(creates).size).toBe(24);
    expect(creates.length).toBe(24); // each created once, whatever the stop interrupted
    const notes = JSON.parse(ws.run(['notifications', '-o', 'json']).stdout) as { reason: string }[];
    expect(notes.map((n) => n.reason)).not.toContain('ApplyInterrupted');
  }, 180_000);

  it('without a grace period, finishes the revision before exiting', async () => {
    const sha2 = repos.commit('Six more', { 'config/more.yaml': cas(24, 30) });
    repos.push('main');
    const run = await startRun(ws.dir, args);
    await run.waitFor('the apply to be under way', (s) => s.applying?.revision === sha2 && s.applying.done >= 1);
    expect(await run.stop('SIGTERM')).toBe(0);
    expect(run.output()).toContain('stopping: finishing the apply under way');
    const { keys, state } = await storeState(ws.dir);
    expect(keys.size).toBe(30);
    expect(state.applied.revision).toBe(sha2);
    expect(state.partial).toBeUndefined();
  }, 180_000);
});
