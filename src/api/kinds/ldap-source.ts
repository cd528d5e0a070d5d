// LdapSource (seed 002): users and groups from an on-premises directory, reached through a connector.
import { z } from 'zod';
import { defineKind, refsOf, type FileField } from '../kind.js';
import { customAttribute, deletionThreshold, duration, fileSource, policies, ref, secretRef, syncStatus, uniqueBy, url } from '../common.js';

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
    userFilter: z.string().regex(/^\(.*\)$/s, { error: 'must be an LDAP filter in parentheses' }).default('(objectClass=inetOrgPerson)'),
    groupFilter: z.string().regex(/^\(.*\)$/s, { error: 'must be an LDAP filter in parentheses' }).default('(objectClass=groupOfNames)'),
    attributeMapping: z
      .strictObject({
        uid: z.string().default('uid'),
        userPrincipalName: z.string().default('userPrincipalName'),
        email: z.string().default('mail'),
        firstName: z.string().default('givenName'),
        lastName: z.string().default('sn'),
        displayName: z.string().default('cn'),
        memberOf: z.string().default('memberOf'),
        groupName: z.string().default('cn'),
        groupMember: z
          .string()
          .default('member')
          .describe("A group's members: DNs (member, uniqueMember) or uids (memberUid); several attributes separated by commas."),
      })
      .default({
        uid: 'uid', userPrincipalName: 'userPrincipalName', email: 'mail', firstName: 'givenName', lastName: 'sn',
        displayName: 'cn', memberOf: 'memberOf', groupName: 'cn', groupMember: 'member',
      }),
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
    uniqueBy(spec.customAttributes, (a) => a.name, ctx, ['customAttributes'], 'custom attribute');
  });

export type LdapSourceSpec = z.output<typeof ldapSourceSpec>;

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
