// Tenant rules from the product documents: checks across the resources of one tenant. Pure.
import { BUILTIN_VARIABLES, DEFAULT_NAMESPACE } from './common.js';
import type { Path } from './kind.js';
import type { Resource } from './resource.js';
import { CA_CAPABILITIES, CA_TYPES, type CertificateAuthoritySpec } from './kinds/certificate-authority.js';
import type { CertificateConfigurationSpec } from './kinds/certificate-configuration.js';
import type { IdentityProviderSpec } from './kinds/identity-provider.js';
import type { SpaceSpec } from './kinds/space.js';
import type { SqlProvisioningSpec } from './kinds/sql-provisioning.js';

export interface RuleViolation {
  resource: Resource<unknown>;
  path: Path;
  message: string;
  hint?: string;
}

type Tenant = Resource[];

const of = <S>(tenant: Tenant, kind: string) => tenant.filter((r) => r.kind === kind) as Resource<S>[];

/** Every rule, over the resources of one tenant (namespace). */
export function tenantRules(tenant: Tenant): RuleViolation[] {
  return [singleIdentityProvider, identityProviderSource, intermediateIssuer, usagesNeedCapableCa, rsaOnlyCas, crossSpaceOnlyInDefaultSpace, spaces, knownVariables, sqlMappingFields].flatMap((rule) =>
    rule(tenant),
  );
}

/** Several identity providers are not supported. */
function singleIdentityProvider(tenant: Tenant): RuleViolation[] {
  const [first, ...others] = of(tenant, 'IdentityProvider');
  return others.map((r) => ({
    resource: r,
    path: ['metadata', 'name'],
    message: `a tenant has at most one IdentityProvider; IdentityProvider/${first!.metadata.name} is already declared`,
  }));
}

/** Entra ID (or ADFS) authentication needs Entra ID as the user source; LDAP alone is not supported. */
function identityProviderSource(tenant: Tenant): RuleViolation[] {
  const hasEntra = of(tenant, 'EntraIdSource').length > 0;
  const hasLdap = of(tenant, 'LdapSource').length > 0;
  return of<IdentityProviderSpec>(tenant, 'IdentityProvider')
    .filter((idp) => idp.spec.type !== 'GenericSaml2' && !hasEntra)
    .map((idp) => ({
      resource: idp,
      path: ['spec', 'type'],
      message: hasLdap
        ? `type ${idp.spec.type} with an LDAP directory as the only user source is not supported`
        : `type ${idp.spec.type} requires an EntraIdSource in the tenant`,
      hint: hasLdap ? 'add an EntraIdSource, or authenticate LDAP users with type GenericSaml2' : 'declare the EntraIdSource that holds the users',
    }));
}

/** An intermediate is signed by a CA whose key mdmops holds: Local or Intermediate. */
function intermediateIssuer(tenant: Tenant): RuleViolation[] {
  const cas = of<CertificateAuthoritySpec>(tenant, 'CertificateAuthority');
  const types = new Map(cas.map((ca) => [ca.metadata.name, ca.spec.type]));
  return cas.flatMap((ca) => {
    const issuer = ca.spec.issuerRef && types.get(ca.spec.issuerRef.name);
    if (!issuer || CA_CAPABILITIES[issuer].holdsKey) return [];
    return [{
      resource: ca,
      path: ['spec', 'issuerRef'],
      message: `issuerRef names a ${issuer} CA; an intermediate is signed by a Local or Intermediate CA`,
      hint: 'to have your own CA sign it, use externalSigner instead',
    }];
  });
}

const USAGE_CAS = CA_TYPES.filter((t) => CA_CAPABILITIES[t].extendedUsages);
const USAGE_NAMES = { ipsec: 'IPSEC', smartCardLogon: 'smart-card logon', customOids: 'custom OIDs' } as const;

/** IPSEC, smart-card logon and custom OIDs exist only for Local, Intermediate and SCEP CAs. */
function usagesNeedCapableCa(tenant: Tenant): RuleViolation[] {
  const cas = new Map(of<CertificateAuthoritySpec>(tenant, 'CertificateAuthority').map((ca) => [ca.metadata.name, ca.spec.type]));
  return of<CertificateConfigurationSpec>(tenant, 'CertificateConfiguration').flatMap((cfg) => {
    const id = cfg.spec.identity;
    const caType = id && cas.get(id.certificateAuthorityRef.name);
    if (!id || !caType || USAGE_CAS.includes(caType)) return [];
    return (Object.keys(USAGE_NAMES) as (keyof typeof USAGE_NAMES)[])
      .filter((u) => (u === 'customOids' ? (id.usages.customOids?.length ?? 0) > 0 : id.usages[u]))
      .map((u) => ({
        resource: cfg,
        path: ['spec', 'identity', 'usages', u],
        message: `${USAGE_NAMES[u]} cannot be used with a ${caType} CA`,
        hint: `IPSEC, smart-card logon and custom OIDs need a ${USAGE_CAS.slice(0, -1).join(', ')} or ${USAGE_CAS.at(-1)} CA`,
      }));
  });
}

/** SCEP returns the certificate encrypted to the requester's key: RSA key transport only. */
function rsaOnlyCas(tenant: Tenant): RuleViolation[] {
  const rsaOnly = new Set(of<CertificateAuthoritySpec>(tenant, 'CertificateAuthority').filter((ca) => CA_CAPABILITIES[ca.spec.type].rsaKeysOnly).map((ca) => ca.metadata.name));
  return of<CertificateConfigurationSpec>(tenant, 'CertificateConfiguration').flatMap((cfg) => {
    const id = cfg.spec.identity;
    if (!id || !rsaOnly.has(id.certificateAuthorityRef.name) || id.keyAlgorithm.startsWith('RSA-')) return [];
    return [{ resource: cfg, path: ['spec', 'identity', 'keyAlgorithm'], message: `${id.keyAlgorithm} cannot be enrolled over SCEP, which needs an RSA key`, hint: 'use keyAlgorithm RSA-2048, RSA-3072 or RSA-4096' }];
  });
}

/** Only the default (global) space's administrators may use the cross-space options. */
function crossSpaceOnlyInDefaultSpace(tenant: Tenant): RuleViolation[] {
  return of<CertificateConfigurationSpec>(tenant, 'CertificateConfiguration').flatMap((cfg) => {
    const space = cfg.spec.spaceRef?.name;
    if (!space) return [];
    const d = cfg.spec.distribution;
    const used: [Path, string][] = [];
    if (d.otherSpaces === 'ApplyToDevicesInOtherSpaces') used.push([['spec', 'distribution', 'otherSpaces'], 'otherSpaces: ApplyToDevicesInOtherSpaces']);
    if (d.allowSpaceAdminToModifyDistribution) used.push([['spec', 'distribution', 'allowSpaceAdminToModifyDistribution'], 'allowSpaceAdminToModifyDistribution']);
    if (cfg.spec.availableInAllSpaces) used.push([['spec', 'availableInAllSpaces'], 'availableInAllSpaces']);
    return used.map(([path, what]) => ({
      resource: cfg,
      path,
      message: `${what} is a cross-space option, only for configurations of the default space; this one belongs to space "${space}"`,
      hint: 'remove spaceRef to declare it in the default (global) space, or drop the option',
    }));
  });
}

/** The default space is implicit; priorities order the others and must differ. */
function spaces(tenant: Tenant): RuleViolation[] {
  const out: RuleViolation[] = [];
  const priorities = new Map<number, string>();
  for (const s of of<SpaceSpec>(tenant, 'Space')) {
    if (s.metadata.name === DEFAULT_NAMESPACE) {
      out.push({ resource: s, path: ['metadata', 'name'], message: 'the default space is implicit and global; name this space otherwise' });
    }
    const other = priorities.get(s.spec.priority);
    if (other) out.push({ resource: s, path: ['spec', 'priority'], message: `priority ${s.spec.priority} is already used by Space/${other}; priorities must differ` });
    else priorities.set(s.spec.priority, s.metadata.name);
  }
  return out;
}

/** Custom attribute names of the tenant's identity sources (or of one of them). */
function customAttributes(tenant: Tenant, only?: { kind: string; name: string }): string[] {
  return tenant
    .filter((r) => (r.kind === 'EntraIdSource' || r.kind === 'LdapSource') && (!only || (r.kind === only.kind && r.metadata.name === only.name)))
    .flatMap((r) => ((r.spec as { customAttributes?: { name: string }[] }).customAttributes ?? []).map((a) => a.name));
}

/** User fields every identity source provides, for SQL provisioning. */
export const USER_FIELDS = ['userUPN', 'userEmailAddress', 'firstName', 'lastName', 'displayName', 'uid'] as const;

/** Each mapped column is filled from a user field or a custom attribute of the provisioned source. */
function sqlMappingFields(tenant: Tenant): RuleViolation[] {
  return of<SqlProvisioningSpec>(tenant, 'SqlProvisioning').flatMap((p) => {
    const known = [...USER_FIELDS, ...customAttributes(tenant, p.spec.sourceRef)];
    return p.spec.attributeMapping.flatMap((m, i) =>
      known.includes(m.from) ? [] : [{
        resource: p,
        path: ['spec', 'attributeMapping', i, 'from'],
        message: `unknown user field "${m.from}"`,
        hint: `user fields: ${known.join(', ')}; custom attributes come from ${p.spec.sourceRef.kind}/${p.spec.sourceRef.name}'s customAttributes`,
      }],
    );
  });
}

/** ${name} in variable-aware fields names a built-in variable or a custom attribute of an identity source. */
function knownVariables(tenant: Tenant): RuleViolation[] {
  const known = [...BUILTIN_VARIABLES, ...customAttributes(tenant)];
  return of<CertificateConfigurationSpec>(tenant, 'CertificateConfiguration').flatMap((cfg) => {
    const id = cfg.spec.identity;
    if (!id) return [];
    const fields: [Path, string][] = [
      [['spec', 'identity', 'subject'], id.subject],
      ...(id.subjectAltNames ?? []).map((s, i): [Path, string] => [['spec', 'identity', 'subjectAltNames', i, 'value'], s.value]),
    ];
    return fields.flatMap(([path, text]) => templateProblems(text, known).map((message) => ({
      resource: cfg,
      path,
      message,
      hint: `known variables: ${known.map((k) => '${' + k + '}').join(', ')}; custom attributes come from an identity source's customAttributes`,
    })));
  });
}

/** Unknown or unterminated ${...} references in a template. */
export function templateProblems(text: string, known: readonly string[]): string[] {
  const problems: string[] = [];
  let i = text.indexOf('${');
  while (i >= 0) {
    const end = text.indexOf('}', i);
    if (end < 0) {
      problems.push(`unterminated variable "${text.slice(i)}"`);
      break;
    }
    const name = text.slice(i + 2, end);
    if (!known.includes(name)) problems.push(`unknown variable \${${name}}`);
    i = text.indexOf('${', end);
  }
  return problems;
}
