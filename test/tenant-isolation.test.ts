// Tenants never meet, through the CLI: each tenant reads only its own standalone secrets (its own
// folder, its own environment names), and two refs that one environment name would serve are refused.
import { describe, expect, it } from 'vitest';
import { doc, workspace } from './support/workspace.js';

const connector = (name: string, namespace: string, secret: string, key = 'credentials') =>
  doc('Connector', name, `hosting: OnPremises\nhttpProxy:\n  url: http://proxy.example.com:3128\n  credentialsSecretRef: { name: ${secret}, key: ${key} }`).replace('metadata:\n', `metadata:\n  namespace: ${namespace}\n`);

describe('standalone secrets per tenant', () => {
  const ws = workspace();
  const reasons = () => Object.fromEntries(JSON.parse(ws.run(['status', '-o', 'json']).stdout).items.map((r: any) => [`${r.metadata.namespace}/${r.metadata.name}`, r.status.conditions.find((c: any) => c.type === 'Ready')?.reason]));

  it('reads <dir>/<name>/<key> for the default tenant and <dir>/<tenant>/<name>/<key> for the others, never one for the other', () => {
    ws.write('config/a.yaml', connector('dc', 'default', 'proxy') + connector('dc', 'tenant-b', 'proxy'));
    ws.write('.mdmops/secrets/proxy/credentials', 'default-user:pw\n');
    const first = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(first.code, first.stderr).toBe(0);
    // The default tenant's secret is not tenant-b's, though the ref is the same.
    expect(reasons()).toEqual({ 'default/dc': 'AgentNotConnected', 'tenant-b/dc': 'SecretNotFound' });
    expect(ws.run(['notifications']).stdout).toContain('.mdmops/secrets/tenant-b/proxy/credentials or set MDMOPS_SECRET_TENANT_B__PROXY__CREDENTIALS');

    ws.write('.mdmops/secrets/tenant-b/proxy/credentials', 'b-user:pw\n');
    ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(reasons()).toEqual({ 'default/dc': 'AgentNotConnected', 'tenant-b/dc': 'AgentNotConnected' });

    // A change of tenant-b's value is tenant-b's change alone.
    ws.write('.mdmops/secrets/tenant-b/proxy/credentials', 'b-user:new\n');
    const plan = ws.run(['plan', '-f', 'config']).stdout;
    expect(plan).toContain('Connector/tenant-b/dc');
    expect(plan).not.toMatch(/^~ Connector\/dc /m);
    expect(plan).not.toContain('b-user');
  });

  it('reads MDMOPS_SECRET_<NAME>__<KEY> for the default tenant and MDMOPS_SECRET_<TENANT>__<NAME>__<KEY> for the others', () => {
    ws.write('config/a.yaml', connector('dc', 'default', 'env-proxy') + connector('dc', 'tenant-b', 'env-proxy'));
    ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_ENV_PROXY__CREDENTIALS: 'u:p' });
    expect(reasons()).toEqual({ 'default/dc': 'AgentNotConnected', 'tenant-b/dc': 'SecretNotFound' });
    ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_ENV_PROXY__CREDENTIALS: 'u:p', MDMOPS_SECRET_TENANT_B__ENV_PROXY__CREDENTIALS: 'v:q' });
    expect(reasons()).toEqual({ 'default/dc': 'AgentNotConnected', 'tenant-b/dc': 'AgentNotConnected' });
  });

  it('tells {corp, ldap-password} from {corp-ldap, password}, and refuses two refs that one variable would serve, naming both', () => {
    ws.write('config/a.yaml', connector('one', 'default', 'corp', 'ldap-password') + connector('two', 'default', 'corp-ldap', 'password'));
    const told = ws.run(['apply', '-f', 'config', '--auto-approve'], { MDMOPS_SECRET_CORP__LDAP_PASSWORD: 'a:b' });
    expect(told.code, told.stderr).toBe(0);
    expect(reasons()).toMatchObject({ 'default/one': 'AgentNotConnected', 'default/two': 'SecretNotFound' });

    ws.write('config/a.yaml', connector('one', 'default', 'corp', 'ldap-password') + connector('three', 'default', 'corp', 'ldap.password'));
    const refused = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/a\.yaml:\d+:1: Connector\/three: secrets corp\/ldap-password and corp\/ldap\.password would both be read from MDMOPS_SECRET_CORP__LDAP_PASSWORD: rename one of them/);
    expect(ws.run(['status', 'Connector/three']).code).toBe(1);
  });
});
