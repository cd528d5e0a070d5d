// Validation layers beyond the shipped examples: references, cycles, tenant rules and file contents.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idpMetadata, signingCertificate } from './support/saml.js';
import { ROOT } from './support/cli.js';
import { lines, resource, validateText } from './support/sources.js';
import { workspace } from './support/workspace.js';

const local = (name: string) => resource('CertificateAuthority', name, 'type: Local\nsubject: { commonName: Root }');
const entra = (name: string, extra = '') =>
  resource('EntraIdSource', name, `displayName: E\ntenantId: contoso.onmicrosoft.com\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nclientSecretRef: { name: e, key: s }${extra}`);
const docs = (...d: string[]) => d.join('---\n');

describe('references', () => {
  it('reports a self-reference and a three-step cycle once each', () => {
    const inter = (name: string, issuer: string) => resource('CertificateAuthority', name, `type: Intermediate\nissuerRef: { name: ${issuer} }\nsubject: { commonName: ${name} }`);
    const r = validateText({ 'a.yaml': docs(inter('self', 'self'), inter('a', 'b'), inter('b', 'c'), inter('c', 'a')) });
    expect(lines(r)).toEqual([
      'a.yaml:7:14: CertificateAuthority/self: spec.issuerRef: dependency cycle: CertificateAuthority/self -> CertificateAuthority/self',
      'a.yaml:34:14: CertificateAuthority/c: spec.issuerRef: dependency cycle: CertificateAuthority/a -> CertificateAuthority/b -> CertificateAuthority/c -> CertificateAuthority/a',
    ]);
  });

  it('does not report a reference to a resource that is itself invalid', () => {
    const ldap = resource('LdapSource', 'l', 'connectorRef: { name: edge }\nurl: ldaps://x.example.com\nbindDn: cn=a\nbindPasswordSecretRef: { name: l, key: p }\nbaseDn: dc=x');
    const r = validateText({ 'a.yaml': docs(resource('Connector', 'edge', 'logLevel: Loud'), ldap) });
    expect(lines(r)).toEqual(['a.yaml:6:13: Connector/edge: spec.logLevel: must be one of Error, Warn, Info, Debug, Trace']);
  });

  it('refuses a reference to the wrong kind', () => {
    const ldap = resource('LdapSource', 'l', 'connectorRef: { name: root }\nurl: ldaps://x.example.com\nbindDn: cn=a\nbindPasswordSecretRef: { name: l, key: p }\nbaseDn: dc=x');
    expect(lines(validateText({ 'a.yaml': docs(local('root'), ldap) }))).toEqual(['a.yaml:14:17: LdapSource/l: spec.connectorRef: Connector "root" not found in tenant "default"']);
  });

  it('allows the same name in two tenants and across kinds', () => {
    const r = validateText({ 'a.yaml': docs(resource('Connector', 'x', '{}', 'a'), resource('Connector', 'x', '{}', 'b'), local('x')) });
    expect(r.diagnostics).toEqual([]);
  });
});

describe('tenant rules', () => {
  it('refuses IPSEC with a NonScepOnPremises CA', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=auth', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '2'], { stdio: 'ignore' });
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(dir, 'k.pem'), '-in', join(dir, 'c.pem'), '-out', join(dir, 'auth.p12'), '-passout', 'pass:x']);
    const ca = resource('CertificateAuthority', 'opentrust', 'type: NonScepOnPremises\nurl: https://pki.example.com\npasswordSecretRef: { name: o, key: p }\nauthenticationCertificate: { file: auth.p12 }\ntlsCaChain: { file: c.pem }');
    const cfg = resource('CertificateConfiguration', 'vpn', 'identity:\n  certificateAuthorityRef: { name: opentrust }\n  subject: CN=${userUPN}\n  usages: { ipsec: true }');
    expect(lines(validateText({ 'a.yaml': docs(ca, cfg) }, {}, dir))).toEqual([
      'a.yaml:20:22: CertificateConfiguration/vpn: spec.identity.usages.ipsec: IPSEC cannot be used with a NonScepOnPremises CA',
    ]);
    writeFileSync(join(dir, 'auth.p12'), readFileSync(join(dir, 'c.pem')));
    expect(lines(validateText({ 'a.yaml': ca }, {}, dir))).toEqual([
      'a.yaml:9:38: CertificateAuthority/opentrust: spec.authenticationCertificate.file: auth.p12: not a PKCS#12 (.p12/.pfx) file',
    ]);
  });

  it('requires a UPN SAN for smart-card logon', () => {
    const cfg = resource('CertificateConfiguration', 'sc', 'identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=${userUPN}\n  usages: { smartCardLogon: true }');
    expect(lines(validateText({ 'a.yaml': docs(local('root'), cfg) }))).toEqual([
      'a.yaml:17:31: CertificateConfiguration/sc: spec.identity.usages.smartCardLogon: smart-card logon requires a UPN subject alternative name',
    ]);
  });

  it('accepts custom attributes declared by a source, and the default space name is reserved', () => {
    const cfg = resource('CertificateConfiguration', 'c', 'identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=${userUPN},serialNumber=${employeeId}');
    expect(validateText({ 'a.yaml': docs(local('root'), entra('e', '\ncustomAttributes: [{ name: employeeId }]'), cfg) }).diagnostics).toEqual([]);
    const space = resource('Space', 'default', 'displayName: D\npriority: 1\nmembers: { groups: [g] }\nadmins: { groups: [a] }');
    expect(lines(validateText({ 'a.yaml': space }))).toEqual(['a.yaml:4:9: Space/default: metadata.name: the default space is implicit and global; name this space otherwise']);
  });

  it('refuses duplicate space priorities and type fields of another CA type', () => {
    const space = (n: string) => resource('Space', n, 'displayName: D\npriority: 5\nmembers: { groups: [g] }\nadmins: { groups: [a] }');
    expect(lines(validateText({ 'a.yaml': docs(space('a'), space('b')) }))).toEqual(['a.yaml:17:13: Space/b: spec.priority: priority 5 is already used by Space/a; priorities must differ']);
    const ca = resource('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: R }\ndirectoryUrl: https://acme.example.com/dir');
    expect(lines(validateText({ 'a.yaml': ca }))).toEqual(['a.yaml:8:17: CertificateAuthority/root: spec.directoryUrl: field "directoryUrl" does not apply to type Local']);
  });

  it('checks SQL provisioning against the GSQL export', () => {
    const sql = (mapping: string, objectType = 'User') =>
      resource('SqlProvisioning', 'hr', `managementAgentExport: { file: examples/tenant/sql/hr-gsql-export.xml }\nobjectType: ${objectType}\nconnection: { driver: SQLite, urlSecretRef: { name: d, key: u } }\ntable: users\nanchor: { attribute: EmployeeId, column: id }\nattributeMapping:\n${mapping}\nsourceRef: { kind: EntraIdSource, name: e }`);
    const ok = '  - { attribute: Mail, column: mail, from: userEmailAddress }';
    expect(validateText({ 'a.yaml': docs(entra('e'), sql(ok)) }).diagnostics).toEqual([]);
    expect(lines(validateText({ 'a.yaml': docs(entra('e'), sql('  - { attribute: AccessLevel, column: lvl, from: costCenter }')) }))).toEqual([
      'a.yaml:22:20: SqlProvisioning/hr: spec.attributeMapping[0].attribute: attribute "AccessLevel" is Integer; only single-valued string attributes are supported',
      'a.yaml:22:52: SqlProvisioning/hr: spec.attributeMapping[0].from: unknown user field "costCenter"',
    ]);
    expect(lines(validateText({ 'a.yaml': docs(entra('e'), sql(ok, 'Group')) }))).toEqual([
      'a.yaml:17:15: SqlProvisioning/hr: spec.objectType: object type "Group" is not a user or person type; only users are provisioned',
    ]);
  });

  it('refuses a management-agent export that is not Generic SQL', () => {
    const xml = '<saved-ma-configuration><ma-data><name>AD</name><category>AD</category></ma-data></saved-ma-configuration>';
    const sql = resource('SqlProvisioning', 'hr', `managementAgentExport: { data: "${xml}" }\nconnection: { driver: SQLite, urlSecretRef: { name: d, key: u } }\ntable: users\nanchor: { attribute: Id, column: id }\nattributeMapping: [{ attribute: Mail, column: mail, from: userUPN }]\nsourceRef: { kind: EntraIdSource, name: e }`);
    expect(lines(validateText({ 'a.yaml': docs(entra('e'), sql) }))).toEqual([
      'a.yaml:16:34: SqlProvisioning/hr: spec.managementAgentExport.data: inline data: not a Generic SQL (GSQL) management-agent export (category "AD", subtype ""); only GSQL is supported',
    ]);
    const broken = resource('SqlProvisioning', 'hr', `managementAgentExport: { data: "<saved-ma-configuration><ma-data>" }\nconnection: { driver: SQLite, urlSecretRef: { name: d, key: u } }\ntable: users\nanchor: { attribute: Id, column: id }\nattributeMapping: [{ attribute: Mail, column: mail, from: userUPN }]\nsourceRef: { kind: EntraIdSource, name: e }`);
    expect(lines(validateText({ 'a.yaml': docs(entra('e'), broken) }))[0]).toMatch(/^a\.yaml:16:34: SqlProvisioning\/hr: spec\.managementAgentExport\.data: inline data \(line 1\): not well-formed XML: /);
  });

  it('checks SAML metadata of an identity provider and refuses a private key among certificates', async () => {
    const idp = (xml: string) => resource('IdentityProvider', 'saml', `type: GenericSaml2\nmetadata: { data: '${xml}' }`);
    const good = idpMetadata('https://idp.example.com', [await signingCertificate('IdP', -1, 30)]).replace(/\n\s*/g, '');
    expect(validateText({ 'a.yaml': idp(good) }).diagnostics).toEqual([]);
    expect(lines(validateText({ 'a.yaml': idp(good.replace(/<md:IDPSSODescriptor.*<\/md:IDPSSODescriptor>/, '')) }))).toEqual([
      'a.yaml:7:21: IdentityProvider/saml: spec.metadata.data: inline data: the metadata describes no identity provider (no <IDPSSODescriptor>)',
    ]);
    // Not well-formed: the XML's own line is named after the YAML's place.
    expect(lines(validateText({ 'a.yaml': idp('<md:EntityDescriptor><md:IDPSSODescriptor></md:EntityDescriptor>') }))[0]).toMatch(
      /^a\.yaml:7:21: IdentityProvider\/saml: spec\.metadata\.data: inline data \(line 1\): not well-formed XML: /,
    );
    const key = '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----';
    const cfg = resource('CertificateConfiguration', 'c', `uploaded:\n  certificate: { data: "${key}" }`);
    expect(lines(validateText({ 'a.yaml': cfg }))).toEqual(['a.yaml:7:26: CertificateConfiguration/c: spec.uploaded.certificate.data: inline data: contains a private key; only certificates belong here']);
  });

  it('refuses credentials inside URLs without echoing them', () => {
    const r = validateText({ 'a.yaml': resource('Connector', 'c', 'httpProxy: { url: "http://admin:Hunter2Secret@proxy.example.com:3128" }') });
    expect(lines(r)).toEqual(['a.yaml:6:21: Connector/c: spec.httpProxy.url: must not hold credentials (user:password@); secrets never appear in YAML, use the secretRef field beside it']);
    expect(JSON.stringify(r.diagnostics)).not.toContain('Hunter2Secret');
    const ldap = resource('LdapSource', 'l', 'connectorRef: { name: c }\nurl: ldaps://sync:pw@ldap.example.com\nbindDn: cn=a\nbindPasswordSecretRef: { name: l, key: p }\nbaseDn: dc=x');
    expect(lines(validateText({ 'a.yaml': docs(resource('Connector', 'c', '{}'), ldap) }))[0]).toContain('spec.url: must not hold credentials');
  });

  it('closes the ways around the certificate rules', () => {
    const cfg = resource('CertificateConfiguration', 'c', 'identity:\n  certificateAuthorityRef: { name: root }\n  subject: CN=${userUPN}\n  usages: { customOids: [1.3.6.1.4.1.311.20.2.2] }');
    expect(lines(validateText({ 'a.yaml': docs(local('root'), cfg) }))).toEqual([
      'a.yaml:17:28: CertificateConfiguration/c: spec.identity.usages.customOids[0]: this is the smart-card logon OID; set usages.smartCardLogon: true instead',
    ]);
    const acme = resource('CertificateAuthority', 'acme', 'type: PublicCloud\ndirectoryUrl: https://acme.example.com/dir\nemail: pki@contoso.com');
    const inter = resource('CertificateAuthority', 'inter', 'type: Intermediate\nissuerRef: { name: acme }\nsubject: { commonName: I }');
    expect(lines(validateText({ 'a.yaml': docs(acme, inter) }))).toEqual([
      'a.yaml:16:14: CertificateAuthority/inter: spec.issuerRef: issuerRef names a PublicCloud CA; an intermediate is signed by a Local or Intermediate CA',
    ]);
    const p12 = resource('CertificateConfiguration', 'p', 'uploaded:\n  certificate: { file: corp.p12 }');
    expect(lines(validateText({ 'a.yaml': p12 }))[0]).toBe('a.yaml:7:5: CertificateConfiguration/p: spec.uploaded: a PKCS12 certificate needs passwordSecretRef');
  });

  it('refuses file references that leave the configuration folder', () => {
    const cfg = (file: string) => resource('CertificateConfiguration', 'c', `uploaded:\n  certificate: { file: ${file} }`);
    expect(lines(validateText({ 'a.yaml': cfg('/etc/ssl/certs/ca-certificates.crt') }))[0]).toContain('must be a path relative to the YAML file');
    expect(lines(validateText({ 'a.yaml': cfg('../../etc/hostname') }))[0]).toContain('is outside the configuration folder');
  });
});

describe('through the CLI', () => {
  const ws = workspace();

  it('reports the reference errors of a resource that also has schema errors, all at once', () => {
    ws.write('both/a.yaml', resource('LdapSource', 'corp', 'connectorRef: { name: pariss-dc }\nurl: ldaps://ldap.example.com\nbindDn: cn=sync\nbindPasswordSecretRef: { name: corp, key: password }\nbaseDn: dc=example\npageSize: many'));
    const r = ws.run(['validate', '-f', 'both']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/a\.yaml:\d+:\d+: LdapSource\/corp: spec\.connectorRef: Connector "pariss-dc" not found in tenant "default"/);
    expect(r.stdout).toMatch(/a\.yaml:\d+:\d+: LdapSource\/corp: spec\.pageSize: /);
    expect(r.stdout).toContain('invalid: 2 errors in 1 file');
  });

  it('refuses ldap:// without StartTLS unless the spec says insecure: true, and then the plan warns', () => {
    const ldap = (extra: string) => resource('Connector', 'dc', 'hosting: OnPremises') + '---\n' + resource('LdapSource', 'corp', `connectorRef: { name: dc }\nurl: ldap://ldap.example.com\nbindDn: cn=sync\nbindPasswordSecretRef: { name: corp, key: password }\nbaseDn: dc=example${extra}`);
    ws.write('ldap/a.yaml', ldap(''));
    const refused = ws.run(['validate', '-f', 'ldap']);
    expect(refused.code).toBe(1);
    expect(refused.stderr + refused.stdout).toMatch(/a\.yaml:\d+:\d+: LdapSource\/corp: spec\.url: ldap:\/\/ without StartTLS sends the bind password in clear: use ldaps:\/\/, set startTls: true, or, knowingly, insecure: true/);
    ws.write('ldap/a.yaml', ldap('\ninsecure: true'));
    expect(ws.run(['validate', '-f', 'ldap']).code).toBe(0);
    const applied = ws.run(['apply', '-f', 'ldap', '--auto-approve']);
    expect(applied.stdout).toContain('insecure: the bind password and every entry travel in clear over ldap://');
    ws.write('ldap/a.yaml', ldap('\nstartTls: true'));
    expect(ws.run(['validate', '-f', 'ldap']).code).toBe(0);
  });

  it('refuses a file reference through a symbolic link that leads out of the folder, naming where it leads (mdmops validate)', () => {
    const secret = ws.write('outside/key.pem', readFileSync(join(ROOT, 'examples/tenant/certs/contoso-root.pem'), 'utf8'));
    ws.write('config/a.yaml', resource('CertificateConfiguration', 'c', 'uploaded:\n  certificate: { file: certs/root.pem }\ndistribution: { devices: AllDevices }'));
    mkdirSync(join(ws.dir, 'config/certs'));
    symlinkSync(secret, join(ws.dir, 'config/certs/root.pem'));
    const r = ws.run(['validate', '-f', 'config']);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toContain(`CertificateConfiguration/c: spec.uploaded.certificate.file: file "certs/root.pem" is a symbolic link to ${realpathSync(secret)}, outside the configuration folder`);
    // A link that stays inside the folder is fine.
    rmSync(join(ws.dir, 'config/certs/root.pem'));
    ws.write('config/real/root.pem', readFileSync(secret, 'utf8'));
    symlinkSync(join(ws.dir, 'config/real/root.pem'), join(ws.dir, 'config/certs/root.pem'));
    const ok = ws.run(['validate', '-f', 'config']);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
  });
});
