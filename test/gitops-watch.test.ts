// mdmops run --watch DIR: edits are debounced into one round, the folder's content digest is the
// revision, a broken edit is never applied (the last good snapshot stays in force), and its fix is.
import { cpSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startRun, type RunningMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const connector = (logLevel: string) => doc('Connector', 'paris-dc', `hosting: OnPremises\nlogLevel: ${logLevel}`);
const space = doc('Space', 'emea', 'displayName: EMEA\npriority: 10\nmembers: { groups: [emea] }\nadmins: { groups: [emea-admins] }');

describe('mdmops run --watch', () => {
  const ws = workspace();
  ws.write('config/connectors.yaml', connector('Info'));
  ws.write('config/spaces.yaml', space);
  let run: RunningMdmops;
  let first: string;
  const stored = () => JSON.parse(ws.run(['status', 'Connector/paris-dc', '-o', 'json']).stdout) as { spec: { logLevel: string }; revision: string };
  const audit = () => JSON.parse(ws.run(['audit', '-o', 'json']).stdout) as { action: string; kind: string; name: string; revision: string }[];

  it('applies the folder, its revision a digest of its content', async () => {
    // A long quiet time makes the burst of edits below one round, however slow the machine.
    run = await startRun(ws.dir, ['--watch', 'config', '--debounce', '3s', '--interval', '1h']);
    const applied = await run.waitFor('the folder applied', (s) => s.applied);
    first = applied.revision;
    expect(first).toMatch(/^sha256:[0-9a-f]{12}$/);
    expect((await run.status())).toMatchObject({ mode: 'watch', folder: 'config', summary: { resources: 2 } });
    expect(stored().revision).toBe(first);
  });

  it('makes one round of a burst of edits, applying only the last', async () => {
    for (const level of ['Warn', 'Debug', 'Error']) writeFileSync(join(ws.dir, 'config/connectors.yaml'), connector(level));
    writeFileSync(join(ws.dir, 'config/.editor-swap.yaml'), 'not: [configuration'); // hidden: neither watched nor read
    const applied = await run.waitFor('the edits applied', (s) => s.applied?.revision !== first && s.applied);
    expect(stored()).toMatchObject({ spec: { logLevel: 'Error' }, revision: applied.revision });
    const updates = audit().filter((a) => a.action === 'update' && a.name === 'paris-dc');
    expect(updates.map((u) => u.revision)).toEqual([applied.revision]);
    expect(await run.metrics()).toContain('mdmops_sync_rounds_total{trigger="change"} 1');
  });

  it('never applies a broken edit, and applies its fix', async () => {
    const good = (await run.status()).applied.revision;
    writeFileSync(join(ws.dir, 'config/connectors.yaml'), connector('Info').replace('logLevel', 'loglevel'));
    const attempt = await run.waitFor('the broken edit looked at', (s) => s.lastAttempt?.result === 'invalid' && s.lastAttempt);
    expect(attempt.errors[0]).toMatchObject({ file: 'config/connectors.yaml', line: 7, resource: 'Connector/paris-dc', field: 'spec.loglevel' });
    expect((await run.status()).applied.revision).toBe(good);
    expect(stored().spec.logLevel).toBe('Error');
    expect(await run.metrics()).toContain('mdmops_watch_sync_failures_total{reason="InvalidRevision"} 1');

    writeFileSync(join(ws.dir, 'config/connectors.yaml'), connector('Info'));
    // Back to the first content: the same digest as the first revision.
    await run.waitFor('the fix applied', (s) => s.applied?.revision === first);
    expect(stored().spec.logLevel).toBe('Info');
    expect((await run.status()).problems).toEqual([]);
  });

  it('follows the folder when it is deleted and made again, as editors and deploy tools do', async () => {
    const before = (await run.status()).applied.revision;
    ws.write('next/connectors.yaml', connector('Warn'));
    ws.write('next/spaces.yaml', space);
    rmSync(join(ws.dir, 'config'), { recursive: true, force: true });
    cpSync(join(ws.dir, 'next'), join(ws.dir, 'config'), { recursive: true });
    // And swapped in whole, by a rename (an atomic deploy): the old folder moves away.
    ws.write('swap/connectors.yaml', connector('Warn'));
    ws.write('swap/spaces.yaml', space.replace('priority: 10', 'priority: 12'));
    renameSync(join(ws.dir, 'config'), join(ws.dir, 'previous'));
    renameSync(join(ws.dir, 'swap'), join(ws.dir, 'config'));
    const applied = await run.waitFor('the new folder applied', (s) => s.applied?.revision !== before && s.applied);
    expect(stored()).toMatchObject({ spec: { logLevel: 'Warn' }, revision: applied.revision });
    await run.waitFor('the swapped folder applied', (s) => JSON.parse(ws.run(['status', 'Space/emea', '-o', 'json']).stdout).spec.priority === 12 || undefined);
    // And it is still watched: a later edit is applied too.
    const swapped = (await run.status()).applied.revision;
    writeFileSync(join(ws.dir, 'config/connectors.yaml'), connector('Debug'));
    await run.waitFor('the later edit applied', (s) => s.applied?.revision !== swapped && s.applied);
    expect(stored().spec.logLevel).toBe('Debug');
    expect(await run.stop()).toBe(0);
  });
});
