// Killing apply at any point and running it again converges: no duplicate records, no lost keys.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { blobAad } from '../src/engine/context.js';
import { privateKey, publicKeySha256 } from '../src/pki/keys.js';
import { BIN_PATH, NODE } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';

const CAS = 24;
const SPACES = 24;

/** Starts apply and SIGKILLs it once `after` resources have been reported done. */
function applyKilledAfter(cwd: string, after: number): Promise<{ killed: boolean; done: number }> {
  return new Promise((resolve) => {
    const child = spawn(NODE, [BIN_PATH, 'apply', '-f', 'config', '--auto-approve', '--concurrency', '4'], { cwd, env: { ...process.env, NO_COLOR: '1' } });
    let done = 0;
    let killed = false;
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      done += lines.filter((l) => / (created|updated)( |$)/.test(l)).length;
      if (!killed && done >= after) {
        killed = child.kill('SIGKILL');
      }
    });
    child.on('exit', () => resolve({ killed, done }));
  });
}

describe('crash safety', () => {
  const ws = workspace();
  const config =
    Array.from({ length: CAS }, (_, i) => doc('CertificateAuthority', `ca-${i}`, `type: Local\nsubject: { commonName: CA ${i} }\nkeyAlgorithm: RSA-2048`)).join('') +
    Array.from({ length: SPACES }, (_, i) => doc('Space', `space-${i}`, `displayName: S${i}\npriority: ${i + 1}\nmembers: { groups: [g${i}] }\nadmins: { groups: [a${i}] }`)).join('');
  ws.write('config/tenant.yaml', config);

  it('converges after being killed at several points, keeping every key it made', async () => {
    const seen = new Map<string, string>(); // CA -> public key fingerprint, as first observed
    const killedAt: number[] = [];
    for (const after of [0, 1, 7, 20]) {
      const run = await applyKilledAfter(ws.dir, after);
      if (run.killed) killedAt.push(run.done);
      for (const [name, fp] of await caKeys(ws.dir)) {
        if (seen.has(name)) expect(fp, `${name}'s key changed after a crash`).toBe(seen.get(name));
        else seen.set(name, fp);
      }
    }
    expect(killedAt.length).toBeGreaterThanOrEqual(3); // really killed mid-apply, more than once

    const last = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(last.code, last.stdout + last.stderr).toBe(0);
    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.stdout).toContain(`No changes: ${CAS + SPACES} resources up to date.`);

    const keys = await caKeys(ws.dir);
    expect(keys.size).toBe(CAS);
    for (const [name, fp] of seen) expect(keys.get(name)).toBe(fp);

    // Each resource was created exactly once, whatever the kills interrupted.
    const audit = JSON.parse(ws.run(['audit', '-o', 'json', '--limit', '1000']).stdout) as { action: string; kind: string; name: string }[];
    const creates = audit.filter((a) => a.action === 'create').map((a) => `${a.kind}/${a.name}`);
    expect(creates.length).toBe(CAS + SPACES);
    expect(new Set(creates).size).toBe(CAS + SPACES);
  }, 180_000);
});

/** Each CA's sealed key, opened, checked against what status publishes. */
async function caKeys(dir: string): Promise<Map<string, string>> {
  const key = parseKey(readFileSync(join(dir, '.mdmops/master.key'), 'utf8'), 'master.key');
  const store = await openStore(parseStoreSpec(undefined, dir));
  try {
    const out = new Map<string, string>();
    for (const r of await store.listRecords({ kind: 'CertificateAuthority' })) {
      expect(await store.listBlobs(r)).toEqual(['private-key']);
      const pkcs8 = key.open((await store.getBlob(r, 'private-key'))!, blobAad(r, 'private-key'));
      const fp = publicKeySha256(privateKey(pkcs8));
      expect(r.status.publicKeySha256).toBe(fp);
      out.set(r.name, fp);
    }
    return out;
  } finally {
    await store.close();
  }
}
