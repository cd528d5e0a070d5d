// Where a standalone store keeps its companions, and what a command that only reads may create:
// with --store sqlite:/abs/t.db the master key and the secrets folder sit beside it, not in the
// current folder; plan, status and the other readers never create a store, a folder or a key; an
// apply of an invalid configuration creates nothing.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN_PATH, NODE } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';

const space = doc('Space', 'emea', 'displayName: EMEA\npriority: 10\nmembers: { groups: [emea] }\nadmins: { groups: [emea-admins] }');
const connector = doc('Connector', 'dc', 'hosting: OnPremises\nhttpProxy:\n  url: http://proxy.example.com:3128\n  credentialsSecretRef: { name: proxy, key: credentials }');

describe('a store named with --store sqlite:PATH', () => {
  const ws = workspace();
  const elsewhere = mkdtempSync(join(tmpdir(), 'mdmops-elsewhere-'));
  afterAll(() => rmSync(elsewhere, { recursive: true, force: true }));
  const store = ['--store', `sqlite:${join(elsewhere, 't.db')}`];

  it('keeps its master key and reads its secrets beside the store, not in the current folder', () => {
    ws.write('config/a.yaml', space + connector);
    mkdirSync(join(elsewhere, 'secrets/proxy'), { recursive: true });
    writeFileSync(join(elsewhere, 'secrets/proxy/credentials'), 'u:p\n');
    const r = ws.run(['apply', '-f', 'config', '--auto-approve', ...store]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`created a master key in ${join(elsewhere, 'master.key')}`);
    expect(statSync(join(elsewhere, 'master.key')).mode & 0o777).toBe(0o600);
    expect(existsSync(join(ws.dir, '.mdmops'))).toBe(false);
    const status = JSON.parse(ws.run(['status', 'Connector/dc', '-o', 'json', ...store]).stdout);
    expect(status.status.conditions.find((c: { type: string }) => c.type === 'Ready').reason).toBe('AgentNotConnected');
  });
});

describe('commands that only read', () => {
  const ws = workspace();
  ws.write('config/a.yaml', space);

  it.each([['plan', '-f', 'config'], ['status'], ['notifications'], ['audit'], ['users'], ['invitations'], ['certificates'], ['export', '--output-dir', 'out']])('%s creates no store, folder or key, and says how to make one', (...args: string[]) => {
    const r = ws.run(args);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`there is no tenant store at ${join(ws.dir, '.mdmops/tenant.db')}: mdmops apply -f DIR makes one there (or name another with --store)`);
    expect(readdirSync(ws.dir).sort()).toEqual(['config']);
  });
});

describe('an apply of an invalid configuration', () => {
  const ws = workspace();

  it('creates nothing', () => {
    ws.write('config/a.yaml', doc('Space', 'emea', 'displayName: EMEA\npriority: ten'));
    const r = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('config/a.yaml:7:');
    expect(readdirSync(ws.dir)).toEqual(['config']);
  });
});

describe('the store file and the master key file', () => {
  const ws = workspace();
  ws.write('config/a.yaml', space);

  it('are made 0600 from the start, whatever the umask', () => {
    const r = spawnSync('sh', ['-c', `umask 000; exec "${NODE}" "${BIN_PATH}" apply -f config --auto-approve`], { cwd: ws.dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['tenant.db', 'master.key']) expect(statSync(join(ws.dir, '.mdmops', f)).mode & 0o777, f).toBe(0o600);
    expect(readdirSync(join(ws.dir, '.mdmops')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a key file that is a symbolic link, or that others may read', () => {
    const real = join(ws.dir, 'elsewhere.key');
    writeFileSync(real, readFileSync(join(ws.dir, '.mdmops/master.key')), { mode: 0o600 });
    symlinkSync(real, join(ws.dir, 'link.key'));
    const linked = ws.run(['status', '--master-key-file', 'link.key']);
    expect(linked.code).toBe(1);
    expect(linked.stderr).toContain('link.key is a symbolic link: give the master key file itself (or its content in MDMOPS_MASTER_KEY)');
    chmodSync(real, 0o644);
    const open = ws.run(['status', '--master-key-file', 'elsewhere.key']);
    expect(open.code).toBe(1);
    expect(open.stderr).toContain('elsewhere.key may be read by others (mode 644): chmod 600 it');
    chmodSync(real, 0o600);
    expect(ws.run(['status', '--master-key-file', 'elsewhere.key']).code).toBe(0);
  });
});

describe('a store file damaged in the middle', () => {
  const ws = workspace();
  ws.write('config/a.yaml', Array.from({ length: 60 }, (_, i) => doc('Space', `s${i}`, `displayName: Space ${i} ${'x'.repeat(200)}\npriority: ${i + 1}\nmembers: { groups: [g${i}] }\nadmins: { groups: [a${i}] }`)).join(''));

  it('is said to be corrupt, with what to do, not an internal error', () => {
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const file = join(ws.dir, '.mdmops/tenant.db');
    const bytes = readFileSync(file);
    expect(bytes.length).toBeGreaterThan(6 * 4096);
    // Pages in the middle of the file overwritten, as a failing disk or a bad copy leaves them.
    bytes.fill(0xa5, 3 * 4096, bytes.length - 4096);
    writeFileSync(file, bytes);
    for (const args of [['status'], ['plan', '-f', 'config']]) {
      const r = ws.run(args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toMatch(/the store file .*is corrupt .*: restore it from a backup/);
      expect(r.stderr).not.toContain('internal error');
    }
  });
});
