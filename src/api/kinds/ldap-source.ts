// LdapSource (seed 002): users and groups from an on-premises directory, reached through a connector.
import { z } from 'zod';
import { defineKind, refsOf, type FileField } from '../kind.js';
import { customAttribute, deletionThreshold, duration, fileSource, policies, ref, secretRef, syncStatus, uniqueBy, url } from '../common.js';

const ldapFilter = z.string().regex(/^\(.*\)$/s, { error: 'must be an LDAP filter in parentheses' });

export const ldapSourceSpec = z
  .strictObject({
    connectorRef: ref('Connector').optional().describe('Connector that reaches the directory.'),
    url: url('ldap|ldaps'),
    startTls: z.boolean().default(false).describe('Upgrade an ldap:// connection with StartTLS.'),
    insecure: z.boolean().default(false).describe('Allow ldap:// without StartTLS: the bind password and the entries travel in clear. The plan warns.'),
    tls: z
      .strictObject({
        caCertificates: fileSource.optional().describe('CA bundle (PEM) that signs the directory certificate.'),
        serverName: z.string().optional().describe('Name expected in the server certificate, when not the URL host.'),
      })
      .optional(),
    bindDn: z.string().min(1),
    bindPasswordSecretRef: secretRef,
    baseDn: z.string().min(1),
    userSearchBase: z.string().optional().describe('Defaults to baseDn.'),
    groupSearchBase: z.string().optional().describe('Defaults to baseDn.'),
    directoryType: z
      .enum(['Generic', 'ActiveDirectory'])
      .default('Generic')
      .describe('Sets the defaults of the filters and attribute mapping (each can still be given): Generic for OpenLDAP-like directories, ActiveDirectory for Microsoft AD.'),
    userFilter: ldapFilter.optional().describe('Generic: (objectClass=inetOrgPerson); ActiveDirectory: (&(objectCategory=person)(objectClass=user)).'),
    groupFilter: ldapFilter.optional().describe('Generic: (objectClass=groupOfNames); ActiveDirectory: (objectClass=group).'),
    attributeMapping: z
      .strictObject({
        uid: z.string().optional().describe('The stable id of a user. Generic: uid; ActiveDirectory: objectGUID (kept across renames and moves).'),
        userPrincipalName: z.string().optional().describe('Default userPrincipalName.'),
        email: z.string().optional().describe('Default mail.'),
        firstName: z.string().optional().describe('Default givenName.'),
        lastName: z.string().optional().describe('Default sn.'),
        displayName: z.string().optional().describe('Generic: cn; ActiveDirectory: displayName.'),
        memberOf: z.string().optional().describe('Default memberOf.'),
        groupName: z.string().optional().describe('Default cn.'),
        groupMember: z
          .string()
          .optional()
          .describe("A group's members: DNs (member, uniqueMember) or uids (memberUid); several attributes separated by commas. Default member."),
      })
      .optional(),
    includeDisabledUsers: z
      .boolean()
      .optional()
      .describe('ActiveDirectory: keep accounts disabled in userAccountControl (bit 0x2); they are left out by default, and a user disabled later leaves.'),
    nestedGroups: z.boolean().default(false).describe("A user is in the groups its groups are in, to any depth (the groups' member attributes walked)."),
    followReferrals: z
      .boolean()
      .default(false)
      .describe('Follow the search continuation references the server answers with (RFC 4511 4.5.3; AD refers a search of the domain root to its other partitions): those to the server at url, or one of serverAliases, are searched over the same connection settings; others are reported (LdapReferralsNotFollowed) and the round goes on.'),
    serverAliases: z
      .array(z.string().regex(/^[A-Za-z0-9.-]+$/, { error: 'must be a DNS host name' }))
      .optional()
      .describe("With followReferrals: other names of the server at url, as its referrals name it (an AD DC names itself by the domain's DNS name: corp.example.com). A referral to one of them is followed on url's host, port and TLS."),
    customAttributes: z.array(customAttribute).optional(),
    pageSize: z.number().int().min(1).max(10000).default(500).describe('Paged search size (RFC 2696).'),
    syncInterval: duration.default('1h'),
    deletionThreshold,
    enabled: z.boolean().default(true),
    ...policies('Delete'),
  })
  .superRefine((spec, ctx) => {
    if (!spec.connectorRef) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'an LdapSource is reached through a connector: connectorRef is required',
        params: { hint: 'add connectorRef: { name: <Connector> }' },
      });
    }
    if (/^ldap:/i.test(spec.url) && !spec.startTls && !spec.insecure) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'ldap:// without StartTLS sends the bind password in clear: use ldaps://, set startTls: true, or, knowingly, insecure: true',
      });
    }
    if (spec.startTls && /^ldaps:/i.test(spec.url)) {
      ctx.addIssue({ code: 'custom', path: ['startTls'], message: 'startTls applies only to ldap:// URLs; ldaps:// is already TLS' });
    }
    if (spec.includeDisabledUsers !== undefined && spec.directoryType !== 'ActiveDirectory') {
      ctx.addIssue({ code: 'custom', path: ['includeDisabledUsers'], message: 'includeDisabledUsers applies to directoryType: ActiveDirectory (its userAccountControl); a Generic directory has no standard disabled flag: leave such entries out with userFilter' });
    }
    if (spec.serverAliases && !spec.followReferrals) {
      ctx.addIssue({ code: 'custom', path: ['serverAliases'], message: 'serverAliases name the server in referrals, which are followed only with followReferrals: true' });
    }
    uniqueBy(spec.customAttributes, (a) => a.name, ctx, ['customAttributes'], 'custom attribute');
  });

export type LdapSourceSpec = z.output<typeof ldapSourceSpec>;
export type LdapAttributeMapping = Required<NonNullable<LdapSourceSpec['attributeMapping']>>;

/** The defaults each directoryType gives; a field of the spec, when given, wins. */
export const LDAP_PRESETS: Record<LdapSourceSpec['directoryType'], { userFilter: string; groupFilter: string; attributeMapping: LdapAttributeMapping }> = {
  Generic: {
    userFilter: '(objectClass=inetOrgPerson)',
    groupFilter: '(objectClass=groupOfNames)',
    attributeMapping: { uid: 'uid', userPrincipalName: 'userPrincipalName', email: 'mail', firstName: 'givenName', lastName: 'sn', displayName: 'cn', memberOf: 'memberOf', groupName: 'cn', groupMember: 'member' },
  },
  ActiveDirectory: {
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    groupFilter: '(objectClass=group)',
    attributeMapping: { uid: 'objectGUID', userPrincipalName: 'userPrincipalName', email: 'mail', firstName: 'givenName', lastName: 'sn', displayName: 'displayName', memberOf: 'memberOf', groupName: 'cn', groupMember: 'member' },
  },
};

/** Active Directory's userAccountControl ACCOUNTDISABLE bit (0x2), tested with the bitwise-AND matching rule (LDAP_MATCHING_RULE_BIT_AND). */
const ENABLED_ONLY = '(!(userAccountControl:1.2.840.113556.1.4.803:=2))';

/** What an LdapSource reads with: its directoryType's defaults under what the spec gives. Pure. */
export function ldapReadSettings(spec: Pick<LdapSourceSpec, 'directoryType' | 'userFilter' | 'groupFilter' | 'attributeMapping' | 'includeDisabledUsers'>): { userFilter: string; groupFilter: string; attributeMapping: LdapAttributeMapping } {
  const preset = LDAP_PRESETS[spec.directoryType];
  const given = Object.fromEntries(Object.entries(spec.attributeMapping ?? {}).filter(([, v]) => v !== undefined));
  const userFilter = spec.userFilter ?? preset.userFilter;
  const enabledOnly = spec.directoryType === 'ActiveDirectory' && !spec.includeDisabledUsers;
  return {
    userFilter: enabledOnly ? `(&${userFilter}${ENABLED_ONLY})` : userFilter,
    groupFilter: spec.groupFilter ?? preset.groupFilter,
    attributeMapping: { ...preset.attributeMapping, ...given },
  };
}

export const LdapSource = defineKind({
  kind: 'LdapSource',
  plural: 'ldapsources',
  shortNames: ['ldap'],
  description: 'Users and groups from an on-premises LDAP directory, through a connector.',
  spec: ldapSourceSpec,
  status: z.strictObject(syncStatus),
  printerColumns: [
    { name: 'URL', type: 'string', jsonPath: '.spec.url' },
    { name: 'Users', type: 'integer', jsonPath: '.status.userCount' },
  ],
  references: (spec) => refsOf(spec.connectorRef && { path: ['spec', 'connectorRef'], kind: 'Connector', name: spec.connectorRef.name }),
  files: (spec): FileField[] =>
    spec.tls?.caCertificates ? [{ path: ['spec', 'tls', 'caCertificates'], source: spec.tls.caCertificates, content: 'certificates' }] : [],
});
