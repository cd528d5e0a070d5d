// plan, apply, prune, drift, status, notifications and export, through the CLI on a fresh store.
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { spawnSync } from 'node:child_process';
import { BIN_PATH, clean, NODE, ROOT } from './support/cli.js';
import { doc, workspace } from './support/workspace.js';
import { freePort } from './servers/ports.js';

const space = (name: string, priority: number) => doc('Space', name, `displayName: ${name}\npriority: ${priority}\nmembers: { groups: [${name}-devices] }\nadmins: { groups: [${name}-admins] }`);
const connector = (name: string, extra = '') => doc('Connector', name, `hosting: OnPremises\nlogLevel: Info\n${extra}`);
const localCa = (name: string, extra = '') => doc('CertificateAuthority', name, `type: Local\nsubject: { commonName: ${name} }\nkeyAlgorithm: ECDSA-P256\n${extra}`);

describe('the example tenant, end to end', () => {
  const ws = workspace(true);

  it('applies, then has nothing more to do', () => {
    const first = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('Plan: 15 to create');
    // Applied without asking, the plan is told in brief: counts by kind, no field of every new resource.
    expect(first.stdout).toContain('  create: CertificateAuthority 3, CertificateConfiguration 3, Connector 2');
    expect(first.stdout).not.toContain('+ spec.');
    expect(first.stdout.split('\n').length).toBeLessThan(60);
    expect(first.stdout).toContain('Apply complete: 15 created');
    expect(first.stderr).toMatch(/created a master key in .*master\.key \(mode 0600\)/);
    expect(statSync(join(ws.dir, '.mdmops/master.key')).mode & 0o777).toBe(0o600);
    // Waiting on what cannot be reached from here is listed, not an error.
    expect(first.stdout).toMatch(/Not Ready \(\d+\):/);
    expect(first.stdout).toContain('EntraIdSource/contoso-entra: SecretNotFound');

    const second = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('No changes: 15 resources up to date.');
    expect(second.stdout).not.toContain('created');

    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('No changes');
  });

  it('exports YAML that validates and plans with no changes', () => {
    const out = ws.run(['export', '--output-dir', 'exported']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/exported 15 resources/);
    expect(readFileSync(join(ws.dir, 'exported/default/certificateauthorities.yaml'), 'utf8')).toContain('kind: CertificateAuthority');
    expect(existsSync(join(ws.dir, 'exported/default/files/certificateconfigurations/corporate-root/contoso-root.pem'))).toBe(true);
    expect(ws.run(['validate', '-f', 'exported']).code).toBe(0);
    const plan = ws.run(['plan', '-f', 'exported', '--detailed-exitcode']);
    expect(plan.stdout).toContain('No changes: 15 resources up to date.');
    expect(plan.code).toBe(0);
    expect(ws.run(['export', '--output-dir', 'exported']).stderr).toContain('is not empty');
  });

  it('shows a console edit as drift, and apply corrects it', () => {
    const set = ws.run(['tenant', 'set', 'Connector/paris-dc', 'logLevel=Debug']);
    expect(set.code, set.stderr).toBe(0);
    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('~ Connector/paris-dc (update; drift: edited in the tenant, will be corrected)');
    expect(plan.stdout).toContain('~ spec.logLevel: Debug -> Info');
    expect(plan.stdout).toContain('dependents: CertificateAuthority/corp-scep, LdapSource/corp-ldap');
    const apply = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(apply.stdout).toContain('Connector/paris-dc updated');
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
    const status = JSON.parse(ws.run(['status', 'Connector/paris-dc', '-o', 'json']).stdout);
    expect(status.spec.logLevel).toBe('Info');
  });

  it('refuses a console edit the kind does not allow, changing nothing', () => {
    const bad = ws.run(['tenant', 'set', 'conn/paris-dc', 'logLevel=Loud']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Connector/paris-dc: spec.logLevel:');
    expect(bad.stderr).toContain('nothing was changed');
    expect(clean(bad)).toBe(true);
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
  });

  it('lists status and deduplicated notifications', () => {
    const status = ws.run(['status']);
    expect(status.stdout).toMatch(/^RESOURCE\s+READY\s+SYNCED\s+REASON/);
    expect(status.stdout).toMatch(/Space\/emea\s+True\s+True/);
    expect(status.stdout).toMatch(/Connector\/aws-directory\s+False\s+True\s+AgentNotConnected/);
    const list = JSON.parse(ws.run(['notifications', '-o', 'json']).stdout) as { kind: string; name: string; reason: string; count: number; firstSeen: string; lastSeen: string }[];
    const connector = list.filter((n) => n.name === 'aws-directory' && n.reason === 'ConnectorNotConnected');
    expect(connector).toHaveLength(1); // seen on every apply, raised once: it never went away
    expect(connector[0]!.count).toBe(1);
    expect(connector[0]!.firstSeen <= connector[0]!.lastSeen).toBe(true);
    expect(ws.run(['notifications']).stdout).toMatch(/LAST SEEN\s+FIRST SEEN\s+COUNT\s+SEVERITY\s+RESOURCE\s+REASON\s+MESSAGE/);
  });

  it('never shows a secret value, only that it changed', () => {
    const secret = 'correct-horse-battery-staple';
    ws.write('.mdmops/secrets/corp-scep/challenge', `${secret}\n`);
    const plan = ws.run(['plan', '-f', 'config']);
    expect(plan.stdout).toContain('~ spec.challengeSecretRef: (secret set)');
    const apply = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(apply.code).toBe(0);
    ws.write('.mdmops/secrets/corp-scep/challenge', 'another-value');
    expect(ws.run(['plan', '-f', 'config']).stdout).toContain('~ spec.challengeSecretRef: (secret value changed)');
    const everything = ['plan -o json', 'plan -o markdown', 'status -o yaml', 'notifications --all -o json'].map((c) => {
      const [cmd, ...rest] = c.split(' ');
      return ws.run([cmd!, ...(cmd === 'plan' ? ['-f', 'config'] : []), ...rest]).stdout;
    });
    for (const out of everything) {
      expect(out).not.toContain(secret);
      expect(out).not.toContain('another-value');
    }
    const db = readFileSync(join(ws.dir, '.mdmops/tenant.db'));
    expect(db.includes(Buffer.from(secret))).toBe(false);
  });
});

describe('plan formats', () => {
  const ws = workspace();
  const space_lines = space('emea', 10).split('\n').length - 1;
  ws.write('config/a.yaml', space('emea', 10) + connector('paris'));

  it('prints stable JSON and a Markdown comment', () => {
    // plan reads a store and never makes one: another source makes it here.
    ws.write('setup/a.yaml', connector('setup'));
    expect(ws.run(['apply', '-f', 'setup', '--source', 'setup', '--auto-approve']).code).toBe(0);
    const json = ws.run(['plan', '-f', 'config', '-o', 'json']);
    expect(json.code).toBe(0);
    const plan = JSON.parse(json.stdout);
    expect(plan).toMatchObject({ formatVersion: 1, source: 'default', hasChanges: true, summary: { create: 2, update: 0, delete: 0, 'no-op': 0 } });
    expect(plan.revision).toMatch(/^sha256:[0-9a-f]{12}$/);
    const space = plan.changes.find((c: { resource: string }) => c.resource === 'Space/emea');
    expect(space).toMatchObject({ kind: 'Space', tenant: 'default', name: 'emea', action: 'create', drift: false, file: 'config/a.yaml', line: 1 });
    expect(plan.changes.find((c: { resource: string }) => c.resource === 'Connector/paris').line).toBe(space_lines + 1); // right after the first document's ---
    expect(space.diffs).toContainEqual({ path: 'spec.priority', before: null, after: 10 });

    const md = ws.run(['plan', '-f', 'config', '-o', 'markdown']).stdout;
    expect(md).toContain('### mdmops plan');
    expect(md).toContain('| 2 | 0 | 0 | 0 | 0 | 0 |');
    expect(md.match(/<details>/g)).toHaveLength(2);
    expect(md).toContain('<summary><code>+ Space/emea (create)</code></summary>');
    expect(md).toContain('+ spec.priority: 10');
  });

  it('says why an invalid configuration has no plan, in the format asked for, and exits 1', () => {
    ws.write('bad/a.yaml', space('emea', 10).replace('priority: 10', 'priority: ten'));
    const json = ws.run(['plan', '-f', 'bad', '-o', 'json']);
    expect(json.code).toBe(1);
    const out = JSON.parse(json.stdout);
    expect(out).toMatchObject({ formatVersion: 1, valid: false });
    expect(out.errors).toEqual([expect.objectContaining({ file: 'bad/a.yaml', resource: 'Space/emea', field: 'spec.priority' })]);
    const md = ws.run(['plan', '-f', 'bad', '-o', 'markdown']);
    expect(md.code).toBe(1);
    expect(md.stdout).toMatch(/^### mdmops plan\n\n\*\*The configuration is invalid\*\* \(1 error\): nothing can be planned\.\n\n```\nbad\/a\.yaml:\d+:\d+: Space\/emea: spec\.priority: /);
  });

  it('refuses to apply without confirmation off a terminal, and applies nothing when invalid', () => {
    const off = ws.run(['apply', '-f', 'config']);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain('--auto-approve');
    ws.write('config/b.yaml', space('apac', 'high' as unknown as number));
    const invalid = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/b\.yaml:\d+:\d+: Space\/apac: spec\.priority:/);
    expect(invalid.stderr).toContain('nothing was planned or applied');
    ws.remove('config/b.yaml');
    // Only what another source applied before: nothing of this configuration.
    expect(ws.run(['status']).stdout).not.toMatch(/Space\/(emea|apac)/);
  });
});

describe('prune', () => {
  const ws = workspace();
  const many = Array.from({ length: 12 }, (_, i) => space(`s${i}`, i + 1)).join('');

  it('deletes what left the configuration, orphans what asks for it, and refuses to break references', () => {
    ws.write('config/a.yaml', many + connector('paris') + localCa('root') + doc('CertificateAuthority', 'scep', 'type: ScepOnPremises\nurl: http://127.0.0.1:9/scep\nconnectorRef: { name: paris }\nchallengeSecretRef: { name: scep, key: challenge }'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const key = JSON.parse(ws.run(['status', 'CertificateAuthority/root', '-o', 'json']).stdout).status.publicKeySha256;
    expect(key).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);

    // All twelve spaces gone at once: more than 10 deletions, and more than 25%.
    ws.write('config/a.yaml', connector('paris') + localCa('root') + doc('CertificateAuthority', 'scep', 'type: ScepOnPremises\nurl: http://127.0.0.1:9/scep\nconnectorRef: { name: paris }\nchallengeSecretRef: { name: scep, key: challenge }'));
    const guarded = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(guarded.code).toBe(1);
    expect(guarded.stdout).toContain('this would delete 12 of the 15 resources applied from source "default"');
    expect(guarded.stdout).toContain('--allow-mass-delete');
    expect(ws.run(['status']).stdout).toContain('Space/s11');
    const allowed = ws.run(['apply', '-f', 'config', '--auto-approve', '--allow-mass-delete']);
    expect(allowed.code, allowed.stdout).toBe(0);
    expect(allowed.stdout).toContain('Space/s0 deleted');
    expect(ws.run(['status']).stdout).not.toContain('Space/s0');

    // The CAs leave the configuration: both are orphaned by default, kept with their key, unmanaged.
    ws.write('config/a.yaml', connector('paris') + space('keep1', 1) + space('keep2', 2) + space('keep3', 3) + space('keep4', 4) + space('keep5', 5));
    const orphan = ws.run(['apply', '-f', 'config', '--auto-approve', '--allow-mass-delete']);
    expect(orphan.code, orphan.stdout).toBe(0);
    expect(orphan.stdout).toContain('- CertificateAuthority/root (orphan: kept in the tenant with its key material, no longer managed)');
    expect(orphan.stdout).toContain('CertificateAuthority/root orphaned');
    const status = JSON.parse(ws.run(['status', 'CertificateAuthority/root', '-o', 'json']).stdout);
    expect(status.managed).toBe(false);
    expect(status.status.publicKeySha256).toBe(key);
    expect(status.status.conditions.find((c: { type: string }) => c.type === 'Synced').reason).toBe('Orphaned');

    // A SCEP CA holds no key of its own: its orphaning does not speak of key material.
    expect(orphan.stdout).toContain('- CertificateAuthority/scep (orphan: kept in the tenant, no longer managed)');

    // The orphaned SCEP CA still names the connector, but no longer holds it back.
    ws.write('config/a.yaml', space('keep1', 1) + space('keep2', 2) + space('keep3', 3) + space('keep4', 4) + space('keep5', 5));
    const removed = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(removed.code, removed.stdout).toBe(0);
    expect(removed.stdout).toContain('Connector/paris deleted');
    expect(ws.run(['status', 'Connector/paris']).code).toBe(1);

    // An orphan is removed on purpose only, and a managed resource never this way.
    const managed = ws.run(['tenant', 'forget', 'Space/keep1']);
    expect(managed.code).toBe(1);
    expect(managed.stderr).toContain('Space/keep1 is managed: remove it from its configuration');
    const forgotten = ws.run(['tenant', 'forget', 'CertificateAuthority/scep']);
    expect(forgotten.code, forgotten.stderr).toBe(0);
    expect(ws.run(['status', 'CertificateAuthority/scep']).code).toBe(1);
    expect(ws.run(['audit', '-o', 'json']).stdout).toContain('"action": "forget"');
    expect(clean(managed)).toBe(true);
    // Put back as the tests below expect it: the connector managed again.
    ws.write('config/a.yaml', connector('paris') + space('keep1', 1) + space('keep2', 2) + space('keep3', 3) + space('keep4', 4) + space('keep5', 5));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
  });

  it.each([['with --concurrency 1', ['--concurrency', '1']], ['by default', []]])('deletes dependents before what they reference, %s', (_how, flags: string[]) => {
    const chain = connector('lyon') +
      doc('LdapSource', 'lyon-ldap', 'connectorRef: { name: lyon }\nurl: ldaps://ldap.lyon.example.com\nbindDn: cn=sync,dc=example,dc=com\nbindPasswordSecretRef: { name: lyon-ldap, key: password }\nbaseDn: dc=example,dc=com') +
      doc('SqlProvisioning', 'lyon-hr', `managementAgentExport: { file: hr.xml }\nconnection: { driver: PostgreSQL, urlSecretRef: { name: hr, key: url } }\ntable: users\nanchor: { attribute: EmployeeId, column: employee_id }\nattributeMapping: [{ attribute: Mail, column: email, from: userEmailAddress }]\nsourceRef: { kind: LdapSource, name: lyon-ldap }`);
    const keep = connector('paris') + space('keep1', 1) + space('keep2', 2) + space('keep3', 3) + space('keep4', 4) + space('keep5', 5);
    ws.write('chain/hr.xml', readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8'));
    ws.write('chain/a.yaml', keep + chain);
    const applied = ws.run(['apply', '-f', 'chain', '--auto-approve', '--allow-mass-delete', ...flags]);
    expect(applied.code, applied.stderr).toBe(0);
    ws.write('chain/a.yaml', keep);
    const removed = ws.run(['apply', '-f', 'chain', '--auto-approve', '--allow-mass-delete', ...flags]);
    expect(removed.code, removed.stdout + removed.stderr).toBe(0);
    // The audit log, newest first: the connector went last.
    const deletions = (JSON.parse(ws.run(['audit', '-o', 'json']).stdout) as { action: string; kind: string }[]).filter((e) => e.action === 'delete').map((e) => e.kind);
    expect(deletions.slice(0, 3)).toEqual(['Connector', 'LdapSource', 'SqlProvisioning']);
    const lines = removed.stdout.split('\n').filter((l) => / deleted$/.test(l));
    expect(lines).toEqual(['SqlProvisioning/lyon-hr deleted', 'LdapSource/lyon-ldap deleted', 'Connector/lyon deleted']);
  });

  it('takes an orphaned CA back, with the same key, when it returns to the configuration', () => {
    ws.write('config/a.yaml', connector('paris') + space('keep1', 1) + space('keep2', 2) + space('keep3', 3) + space('keep4', 4) + space('keep5', 5) + localCa('root'));
    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('CertificateAuthority/root (adopt)');
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(JSON.parse(ws.run(['status', 'CertificateAuthority/root', '-o', 'json']).stdout).managed).toBe(true);
  });
});

describe('--show-plan', () => {
  const ws = workspace();

  it('shows the whole plan, field by field, with --auto-approve', () => {
    ws.write('config/a.yaml', space('emea', 10));
    const r = ws.run(['apply', '-f', 'config', '--auto-approve', '--show-plan']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('+ Space/emea (create)');
    expect(r.stdout).toContain('+ spec.priority: 10');
  });
});

describe('labels and annotations', () => {
  const ws = workspace();
  const labelled = (site: string, note: string) => connector('lyon').replace('metadata:\n', `metadata:\n  labels: { site: ${site}, tier: edge }\n  annotations: { contoso.com/owner: "${note}" }\n`);

  it('are planned, applied, shown in status and exported, and a change to one is an update', () => {
    ws.write('config/a.yaml', labelled('lyon', 'network team'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
    const shown = parse(ws.run(['status', 'Connector/lyon', '-o', 'yaml']).stdout);
    expect(shown.metadata).toMatchObject({ name: 'lyon', labels: { site: 'lyon', tier: 'edge' }, annotations: { 'contoso.com/owner': 'network team' } });

    ws.write('config/a.yaml', labelled('paris', 'network team'));
    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('~ Connector/lyon (update)');
    expect(plan.stdout).toContain('~ metadata.labels.site: lyon -> paris');
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).stdout).toContain('Connector/lyon updated');
    expect(parse(ws.run(['status', 'Connector/lyon', '-o', 'yaml']).stdout).metadata.labels.site).toBe('paris');

    expect(ws.run(['export', '--output-dir', 'exported']).code).toBe(0);
    const exported = readFileSync(join(ws.dir, 'exported/default/connectors.yaml'), 'utf8');
    expect(parse(exported).metadata).toEqual({ name: 'lyon', labels: { site: 'paris', tier: 'edge' }, annotations: { 'contoso.com/owner': 'network team' } });
    // The export applies as no change.
    expect(ws.run(['plan', '-f', 'exported/default', '--detailed-exitcode']).code).toBe(0);
  });
});

describe('the mass-delete guard in a small tenant', () => {
  const ws = workspace();
  const connectors = (n: number) => Array.from({ length: n }, (_, i) => connector(`c${i}`)).join('');

  it('lets two of three resources go, and stops five of eight', () => {
    ws.write('config/a.yaml', connectors(3));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    ws.write('config/a.yaml', connectors(1));
    const small = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(small.code, small.stdout).toBe(0);
    expect(small.stdout).toContain('Connector/c2 deleted');

    ws.write('config/a.yaml', connectors(8));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    ws.write('config/a.yaml', connectors(3));
    const many = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(many.code).toBe(1);
    expect(many.stdout).toContain('this would delete 5 of the 8 resources applied from source "default" (more than 10, or 5 or more and more than 25%)');
  });
});

describe('management policies', () => {
  const ws = workspace();

  it('Observe reports drift without correcting it; suspend leaves a resource alone', () => {
    ws.write('config/a.yaml', connector('watched') + connector('paused'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    ws.write('config/a.yaml', connector('watched', 'managementPolicy: Observe') + connector('paused'));
    const switched = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(switched.stdout).toContain('! Connector/watched (policy settings recorded; managementPolicy Observe)');
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
    expect(ws.run(['tenant', 'set', 'Connector/watched', 'logLevel=Trace']).code).toBe(0);
    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.stdout).not.toContain('managementPolicy:');
    expect(plan.stdout).toContain('! Connector/watched (drift reported, not corrected: managementPolicy Observe)');
    expect(plan.stdout).toContain('~ spec.logLevel: Trace -> Info');
    ws.run(['apply', '-f', 'config', '--auto-approve']);
    const watched = JSON.parse(ws.run(['status', 'Connector/watched', '-o', 'json']).stdout);
    expect(watched.spec.logLevel).toBe('Trace');
    expect(watched.spec.managementPolicy).toBe('Observe');
    expect(watched.status.conditions.find((c: { type: string }) => c.type === 'Synced')).toMatchObject({ status: 'False', reason: 'DriftDetected' });
    expect(ws.run(['notifications']).stdout).toMatch(/Connector\/watched\s+DriftDetected/);

    ws.write('config/a.yaml', connector('watched', 'managementPolicy: Observe') + connector('paused', 'suspend: true\ndescription: changed'));
    const suspended = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(suspended.stdout).toContain('suspended, left alone: Connector/paused');
    expect(JSON.parse(ws.run(['status', 'Connector/paused', '-o', 'json']).stdout).spec.description).toBeUndefined();
  });
});

describe('--wait', () => {
  const ws = workspace();

  it('waits for a server to come up, and fails when it does not', async () => {
    const port = await freePort();
    // Any kind that waits on a server does; this one only needs it to accept connections.
    const entra = `displayName: Test\ntenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nclientSecretRef: { name: core, key: password }\nauthorityHost: https://127.0.0.1:${port}`;
    ws.write('config/a.yaml', doc('EntraIdSource', 'peer', entra));
    const env = { MDMOPS_SECRET_CORE__PASSWORD: 'pw' };
    const down = ws.run(['apply', '-f', 'config', '--auto-approve', '--wait=2s'], env);
    expect(down.code, down.stderr).toBe(1);
    expect(down.stdout, down.stderr).toContain('EntraIdSource/peer: EntraUnreachable');
    expect(down.stdout).toContain('Timed out after 2s');
    expect(ws.run(['notifications']).stdout).toMatch(/EntraIdSource\/peer\s+EntraUnreachable/);

    const server = createServer((s) => s.end()).listen(port, '127.0.0.1');
    try {
      const up = await new Promise<{ code: number; stdout: string }>((resolve) => setTimeout(() => resolve(ws.run(['apply', '-f', 'config', '--auto-approve', '--wait=10s'], env)), 10));
      expect(up.code, up.stdout).toBe(0);
      expect(up.stdout).toContain('No changes');
    } finally {
      server.close();
    }
    expect(ws.run(['notifications']).stdout).not.toContain('EntraUnreachable');

    // Down again: the same notification comes back, counted twice, first seen kept.
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env).stdout).toContain('EntraUnreachable');
    const [again] = JSON.parse(ws.run(['notifications', '-o', 'json']).stdout) as { reason: string; count: number; firstSeen: string; lastSeen: string }[];
    expect(again).toMatchObject({ reason: 'EntraUnreachable', count: 2 });
    expect(again!.firstSeen < again!.lastSeen).toBe(true);
  });
});

describe('on a terminal', () => {
  const ws = workspace();
  ws.write('config/a.yaml', space('emea', 10));
  // script(1) gives the command a pseudo-terminal, as an administrator's shell would.
  const onTerminal = (answer: string) =>
    spawnSync('script', ['-qec', `${NODE} ${BIN_PATH} apply -f config`, '/dev/null'], { cwd: ws.dir, input: answer, encoding: 'utf8', env: { ...process.env, NO_COLOR: '' } });

  it('asks before applying, and applies only on "yes"', () => {
    const no = onTerminal('no\n');
    expect(no.stdout).toContain('Only "yes" applies:');
    expect(no.stdout).toContain('Nothing applied.');
    expect(no.stdout).toMatch(/\x1b\[32m\+ Space\/emea \(create\)/); // coloured on a terminal
    expect(no.status).toBe(1);
    expect(ws.run(['status']).stdout).toContain('is empty');
    const yes = onTerminal('yes\n');
    expect(yes.stdout).toContain('Apply complete: 1 created');
    expect(yes.status).toBe(0);
  });
});

describe('after review', () => {
  const ws = workspace();
  const tenantB = (name: string) => doc('Space', name, `displayName: ${name}\npriority: 1\nmembers: { groups: [g] }\nadmins: { groups: [a] }`).replace(`name: ${name}\n`, `name: ${name}\n  namespace: acme\n`);
  ws.write('config/a.yaml', space('emea', 10) + connector('paris') + tenantB('apac') + doc('CertificateConfiguration', 'root', `uploaded:\n  certificate: { file: root.pem }\ndistribution: { devices: AllDevices }`));
  ws.write('config/root.pem', readFileSync(join(import.meta.dirname, '../examples/tenant/certs/contoso-root.pem'), 'utf8'));

  it('exports an edited tenant as it stands: re-applying the export is no change, and --force leaves nothing stale', () => {
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(ws.run(['tenant', 'set', 'Space/emea', 'priority=11']).code).toBe(0);
    expect(ws.run(['export', '--output-dir', 'out']).code).toBe(0);
    const plan = ws.run(['plan', '-f', 'out', '--detailed-exitcode']);
    expect(plan.stdout).toContain('No changes: 4 resources up to date.');
    expect(plan.code).toBe(0);
    expect(ws.run(['apply', '-f', 'out', '--auto-approve']).stdout).toContain('No changes');
    expect(JSON.parse(ws.run(['status', 'Space/emea', '-o', 'json']).stdout).spec.priority).toBe(11);

    ws.write('out/default/ghost.txt', 'left by hand');
    ws.write('config/a.yaml', space('emea', 11) + connector('paris') + tenantB('apac') + doc('CertificateConfiguration', 'root', `uploaded:\n  certificate: { file: root.pem }\ndistribution: { devices: AllDevices }`) + space('extra', 20));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(ws.run(['export', '--output-dir', 'out']).stderr).toContain('is not empty');
    expect(ws.run(['export', '-o', 'out', '--force']).code).toBe(0);
    expect(existsSync(join(ws.dir, 'out/default/ghost.txt'))).toBe(false);
    expect(ws.run(['plan', '-f', 'out', '--detailed-exitcode']).code).toBe(0);
    ws.write('file', 'x');
    expect(ws.run(['export', '-o', 'file']).stderr).toContain('file is not a folder');
  });

  it('refuses console edits it cannot make, in one clear line', () => {
    const cases: [string[], string][] = [
      [['Space/emea', 'spec.__proto__.x=1'], 'not a field'],
      [['Space/emea', 'constructor.prototype.x=1'], 'not a field'],
      [['Space/emea', 'spec=1'], 'name a field under spec'],
      [['Space/emea', 'metadata.name=x'], 'only fields under spec can be set'],
      [['Space/emea', 'displayName=*a'], 'the value is not valid YAML'],
      [['Space/emea', 'members.groups[5]=q'], 'index 5 is past the end (1 item)'],
      [['CertificateConfiguration/root', 'uploaded.certificate.file=/etc/passwd'], 'holds a file'],
      [['CertificateConfiguration/root', 'uploaded.certificate=x'], 'holds a file'],
      [['Space/nowhere', 'priority=1'], 'Space/nowhere is not in the tenant store'],
    ];
    for (const [args, message] of cases) {
      const r = ws.run(['tenant', 'set', ...args]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(message);
      expect(clean(r)).toBe(true);
    }
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(ws.run(['plan', '-f', 'config', '--detailed-exitcode']).code).toBe(0);
  });

  it('tenant set: refuses YAML tags in one clear line, removes a field with FIELD-, and warns before an edit that a CA key replacement would correct', () => {
    for (const value of ['!!binary aGVsbG8=', '!custom x', '[!!str a]']) {
      const r = ws.run(['tenant', 'set', 'Space/emea', `displayName=${value}`]);
      expect(r.code, value).toBe(1);
      expect(r.stderr.trim().split('\n'), value).toEqual([`mdmops: displayName=${value}: YAML tags (!!binary, !name) are not accepted; quote the value to set it as text`]);
    }
    expect(ws.run(['tenant', 'set', 'Space/emea', 'description=temporary']).code).toBe(0);
    expect(JSON.parse(ws.run(['status', 'Space/emea', '-o', 'json']).stdout).spec.description).toBe('temporary');
    const removed = ws.run(['tenant', 'set', 'Space/emea', 'description-']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(ws.run(['status', 'Space/emea', '-o', 'json']).stdout).spec.description).toBeUndefined();
    const required = ws.run(['tenant', 'set', 'Space/emea', 'displayName-']);
    expect(required.code).toBe(1);
    expect(required.stderr).toContain('nothing was changed');

    ws.write('config/ca.yaml', localCa('contoso-root'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const key = ws.run(['tenant', 'set', 'CertificateAuthority/contoso-root', 'keyAlgorithm=ECDSA-P384']);
    expect(key.code, key.stderr).toBe(0);
    expect(key.stderr).toContain('warning: spec.keyAlgorithm cannot change in place: the next apply that corrects this edit replaces CertificateAuthority/contoso-root');
    expect(ws.run(['tenant', 'set', 'Space/emea', 'priority=10']).stderr).not.toContain('warning');
    // Put back as it was, so that the next apply has no key to replace.
    expect(ws.run(['tenant', 'set', 'CertificateAuthority/contoso-root', 'keyAlgorithm=ECDSA-P256']).code).toBe(0);
    const plan = ws.run(['plan', '-f', 'config']).stdout;
    expect(plan).not.toContain('CertificateAuthority/contoso-root');
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
  });

  it('finds a resource of another tenant as status prints it, and lists one tenant with -n', () => {
    expect(ws.run(['status']).stdout).toContain('Space/acme/apac');
    expect(JSON.parse(ws.run(['status', 'Space/acme/apac', '-o', 'json']).stdout).metadata.namespace).toBe('acme');
    expect(ws.run(['tenant', 'set', 'Space/acme/apac', 'priority=2']).code).toBe(0);
    const only = ws.run(['status', '-n', 'acme']).stdout;
    expect(only).toContain('Space/acme/apac');
    expect(only).not.toContain('Space/emea');
  });

  it('will not replace a lost master key with a new one', () => {
    const key = readFileSync(join(ws.dir, '.mdmops/master.key'));
    ws.remove('.mdmops/master.key');
    const r = ws.run(['plan', '-f', 'config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('master.key is missing, and this store was made with a key');
    expect(r.stderr).not.toContain('created a master key');
    expect(existsSync(join(ws.dir, '.mdmops/master.key'))).toBe(false);
    // Restored as a backup is: the owner's alone (mdmops refuses a key others may read).
    chmodSync(ws.write('.mdmops/master.key', key.toString()), 0o600);
    expect(ws.run(['plan', '-f', 'config']).code).toBe(0);
  });
});

describe('--wait and secrets', () => {
  const ws = workspace();
  ws.write('config/a.yaml', doc('CoreSyncTarget', 'peer', 'fqdn: peer.example.com\nsyncEnabled: false\ncredentials: { username: svc, passwordSecretRef: { name: peer, key: password } }'));

  it('becomes Ready when the missing secret arrives while it waits', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(NODE, [BIN_PATH, 'apply', '-f', 'config', '--auto-approve', '--wait=30s'], { cwd: ws.dir, env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => d.toString().includes('waiting for') && resolve()));
    ws.write('.mdmops/secrets/peer/password', 's3cret-value');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(out).toContain('All resources Ready.');
    expect(out).not.toContain('s3cret-value');
    expect(code).toBe(0);
    expect(ws.run(['apply', '-f', 'config', '--auto-approve', '--wait=48h']).stderr).toContain('at most 24h');
  }, 60_000);
});
