// The benchmark corpus: 10,000 resources of every kind in 1,000 files, as 100 tenants, and the floor
// every benchmark compares against: the same files parsed with the yaml library and checked by
// precompiled ajv validators (no positions, references, tenant rules or file checks).
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { KINDS, kindFileStem } from '../src/api/index.js';
import { PACKAGE_ROOT } from '../src/cli/package-info.js';

export const TENANTS = 100;
export const PER_FILE = 10;
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

const API = 'apiVersion: mdmops.io/v1alpha1';
const doc = (kind: string, name: string, ns: string, spec: string) => `${API}\nkind: ${kind}\nmetadata:\n  name: ${name}\n  namespace: ${ns}\n  labels: { team: pki, tier: t${name.length} }\nspec:\n${spec.replace(/^/gm, '  ')}\n`;

/** One tenant: 100 resources of all nine kinds, referencing each other as a real tenant does. */
function tenant(ns: string, rootKey: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < 20; i++) out.push(doc('Connector', `conn-${i}`, ns, `hosting: OnPremises\nlogLevel: Info\nhttpProxy:\n  url: http://proxy.${ns}.example.com:3128\n  noProxy: [a.example.com, b.example.com]`));
  for (let i = 0; i < 10; i++) out.push(doc('CertificateAuthority', `root-${i}`, ns, `type: Local\nsubject: { commonName: Root ${i}, organization: Contoso, country: FR }\nkeyAlgorithm: ${rootKey}\nvalidity: 3650d\nrenewBefore: 90d`));
  for (let i = 0; i < 10; i++) out.push(doc('CertificateAuthority', `issuing-${i}`, ns, `type: Intermediate\nissuerRef: { name: root-${i} }\nsubject: { commonName: Issuing ${i}, organization: Contoso }\nkeyAlgorithm: ECDSA-P256`));
  for (let i = 0; i < 20; i++) out.push(doc('CertificateConfiguration', `identity-${i}`, ns, `identity:\n  certificateAuthorityRef: { name: issuing-${i % 10} }\n  subject: CN=\${userUPN},OU=\${department},O=Contoso\n  subjectAltNames:\n    - { type: UPN, value: "\${userUPN}" }\n    - { type: Email, value: "\${userEmailAddress}" }\n  usages: { clientAuthentication: true, smartCardLogon: true, customOids: [1.3.6.1.4.1.311.10.3.4] }\ndistribution:\n  devices: Custom\n  selector: { groups: [g${i}] }`));
  for (let i = 0; i < 10; i++) out.push(doc('Space', `space-${i}`, ns, `displayName: Space ${i}\npriority: ${i + 1}\nmembers: { groups: [devices-${i}] }\nadmins: { groups: [admins-${i}], users: [admin${i}@contoso.com] }`));
  for (let i = 0; i < 10; i++) out.push(doc('EntraIdSource', `entra-${i}`, ns, `displayName: Entra ${i}\ntenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nclientSecretRef: { name: entra-${i}, key: secret }\nmanagedAppleIds: { mode: Schema, schema: UserUPN, includeAppleIdSubdomain: true }\ncustomAttributes: [{ name: department }, { name: employeeId }]`));
  for (let i = 0; i < 10; i++) out.push(doc('LdapSource', `ldap-${i}`, ns, `connectorRef: { name: conn-${i} }\nurl: ldap://ldap${i}.corp.example.com:389\nstartTls: true\nbindDn: cn=sync,dc=corp,dc=example,dc=com\nbindPasswordSecretRef: { name: ldap-${i}, key: password }\nbaseDn: dc=corp,dc=example,dc=com\ncustomAttributes: [{ name: department, attribute: departmentNumber }]`));
  out.push(doc('IdentityProvider', 'idp', ns, 'type: EntraId\nentraIdSourceRef: { name: entra-0 }'));
  // Sync disabled: a plan would otherwise look up 800 made-up host names, timing this machine's DNS, not mdmops.
  for (let i = 0; i < 8; i++) out.push(doc('CoreSyncTarget', `core-${i}`, ns, `fqdn: core${i}.${ns}.example.com\nsyncEnabled: false\ncredentials: { username: svc, passwordSecretRef: { name: core-${i}, key: password } }\ntrust: { certificateSha256: ${'ab'.repeat(32)} }`));
  out.push(doc('SqlProvisioning', 'hr', ns, 'managementAgentExport: { file: ../hr-gsql-export.xml }\nconnection: { driver: PostgreSQL, urlSecretRef: { name: hr, key: url } }\ntable: users\nanchor: { attribute: EmployeeId, column: id }\nattributeMapping:\n  - { attribute: Mail, column: mail, from: userEmailAddress }\n  - { attribute: Department, column: dept, from: department }\nsourceRef: { kind: EntraIdSource, name: entra-0 }'));
  return out;
}

/** Writes the corpus; `rootKey` lets a benchmark that applies it make keys quickly. */
export function generate(dir: string, rootKey = 'RSA-4096'): number {
  const docs = Array.from({ length: TENANTS }, (_, t) => tenant(`tenant-${t}`, rootKey)).flat();
  copyFileSync(join(PACKAGE_ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), join(dir, 'hr-gsql-export.xml'));
  for (let f = 0; f * PER_FILE < docs.length; f++) {
    const sub = join(dir, `group-${Math.floor(f / 100)}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `file-${f}.yaml`), docs.slice(f * PER_FILE, (f + 1) * PER_FILE).join('---\n'));
  }
  return docs.length;
}

/** The floor: read, parse with the yaml library, validate with precompiled ajv validators. */
export function floor(dir: string, validators: Map<string, ValidateFunction>): number {
  let valid = 0;
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const d of parseAllDocuments(readFileSync(join(dir, entry), 'utf8'))) {
      const value = d.toJS() as { kind: string };
      if (validators.get(value.kind)!(value)) valid++;
    }
  }
  return valid;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function time(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export function validators(): Map<string, ValidateFunction> {
  // Formats the schemas name, accepted as they are (ajv knows none of its own): no warning for each.
  const ajv = new Ajv({ strict: false, formats: { email: true, 'date-time': true } });
  return new Map(KINDS.map((k) => [k.kind, ajv.compile(JSON.parse(readFileSync(join(PACKAGE_ROOT, 'schemas', `${kindFileStem(k.kind)}.json`), 'utf8')))]));
}
