// Secrets never leave: canary values in an LDAP bind password, an Entra ID client secret, a SQL URL,
// a SCEP challenge and a proxy credential go through validate, plan (every format), apply, status,
// notifications, audit, export, the store's files, and mdmops run's log, /status and /metrics, and
// appear in none of them.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { request, startRun } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const CANARIES = {
  ldap: 'canary-ldap-7d2f9a',
  entra: 'canary-entra-8Q~4c1e0b',
  sql: 'canary-sql-6b3e1f',
  scep: 'canary-scep-2a9c5d',
  proxy: 'canary-proxy-0f7e3b',
};

describe('canary secrets', () => {
  const ws = workspace();
  ws.write('config/a.yaml', [
    doc('Connector', 'dc', 'hosting: OnPremises\nhttpProxy:\n  url: http://proxy.example.com:3128\n  credentialsSecretRef: { name: proxy, key: credentials }'),
    doc('LdapSource', 'corp', 'connectorRef: { name: dc }\nurl: ldaps://ldap.example.com\nbindDn: cn=sync,dc=example,dc=com\nbindPasswordSecretRef: { name: ldap, key: password }\nbaseDn: dc=example,dc=com'),
    doc('EntraIdSource', 'entra', 'displayName: Entra\ntenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nclientSecretRef: { name: entra, key: secret }'),
    doc('CertificateAuthority', 'scep', 'type: ScepOnPremises\nurl: https://ndes.example.com/certsrv/mscep/mscep.dll\nconnectorRef: { name: dc }\nchallengeSecretRef: { name: scep, key: challenge }'),
    doc('SqlProvisioning', 'hr', 'managementAgentExport: { file: hr.xml }\nconnection: { driver: PostgreSQL, urlSecretRef: { name: hr, key: url } }\ntable: users\nanchor: { attribute: EmployeeId, column: employee_id }\nattributeMapping: [{ attribute: Mail, column: email, from: userEmailAddress }]\nsourceRef: { kind: EntraIdSource, name: entra }'),
  ].join(''));
  ws.write('config/hr.xml', readFileSync(join(import.meta.dirname, '../examples/tenant/sql/hr-gsql-export.xml'), 'utf8'));
  ws.write('.mdmops/secrets/ldap/password', CANARIES.ldap);
  ws.write('.mdmops/secrets/entra/secret', CANARIES.entra);
  ws.write('.mdmops/secrets/hr/url', `postgres://app:${CANARIES.sql}@db.example.com/hr`);
  ws.write('.mdmops/secrets/scep/challenge', CANARIES.scep);
  ws.write('.mdmops/secrets/proxy/credentials', `user:${CANARIES.proxy}`);

  const noCanary = (where: string, text: string) => {
    for (const [what, canary] of Object.entries(CANARIES)) expect(text.includes(canary), `${what} canary in ${where}`).toBe(false);
  };

  it('appear in no output of the CLI and in no file of the store', () => {
    const outputs: [string, string[]][] = [
      ['validate', ['validate', '-f', 'config', '-o', 'json']],
      ['apply', ['apply', '-f', 'config', '--auto-approve']],
      ['plan', ['plan', '-f', 'config']],
      ['plan json', ['plan', '-f', 'config', '-o', 'json']],
      ['plan markdown', ['plan', '-f', 'config', '-o', 'markdown']],
      ['status', ['status', '-o', 'yaml']],
      ['notifications', ['notifications', '--all', '-o', 'json']],
      ['audit', ['audit', '-o', 'json']],
      ['export', ['export', '--output-dir', 'exported']],
    ];
    for (const [what, args] of outputs) {
      const r = ws.run(args);
      noCanary(what, r.stdout + r.stderr);
    }
    // A secret changed: the plan says so, without either value.
    ws.write('.mdmops/secrets/entra/secret', `${CANARIES.entra}-2`);
    const changed = ws.run(['plan', '-f', 'config']);
    expect(changed.stdout).toContain('(secret value changed)');
    noCanary('plan of a changed secret', changed.stdout + changed.stderr);
    for (const file of readdirSync(join(ws.dir, 'exported'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile())) {
      noCanary(`export ${file.name}`, readFileSync(join(file.parentPath, file.name), 'latin1'));
    }
    for (const f of readdirSync(join(ws.dir, '.mdmops')).filter((name) => name.startsWith('tenant.db'))) noCanary(`store ${f}`, readFileSync(join(ws.dir, '.mdmops', f), 'latin1'));
  });

  it('appear nowhere mdmops run shows: its log, /status and /metrics', async () => {
    ws.write('.mdmops/secrets/entra/secret', CANARIES.entra);
    const run = await startRun(ws.dir, ['--watch', 'config']);
    try {
      await run.waitFor('the configuration applied', (s) => s.applied?.revision);
      noCanary('/status', await (await request(`${run.base}/status`)).text());
      noCanary('/metrics', await run.metrics());
    } finally {
      await run.stop();
    }
    noCanary('the log of mdmops run', run.output());
  });
});
