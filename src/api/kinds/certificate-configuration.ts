// CertificateConfiguration (seed 001): an uploaded certificate, or identity certificates issued by a CA.
import { z } from 'zod';
import { defineKind, refsOf, type FileField } from '../kind.js';
import { duration, fileSource, keyAlgorithm, policies, ref, secretRef, statusBase } from '../common.js';
import { parseDuration } from '../duration.js';

export const SMART_CARD_LOGON_OID = '1.3.6.1.4.1.311.20.2.2';
/** Dotted OID: first arc 0-2, second arc 0-39 under 0 and 1, no leading zeros. */
export const OID_PATTERN = /^([01]\.([0-9]|[1-3][0-9])|2\.(0|[1-9][0-9]*))(\.(0|[1-9][0-9]*))*$/;

const template = z.string().min(1).describe('Text with variables: ${userEmailAddress}, ${userUPN} or ${customAttribute}.');

export const identityCertificate = z
  .strictObject({
    certificateAuthorityRef: ref('CertificateAuthority').describe('The CA that issues the certificates.'),
    subject: template.describe('Subject DN template, e.g. "CN=${userUPN},O=Example". Variables: ${userEmailAddress}, ${userUPN}, custom attributes.'),
    subjectAltNames: z
      .array(z.strictObject({ type: z.enum(['Email', 'UPN', 'DNS', 'URI']), value: template }))
      .optional()
      .describe('Subject alternative names; a UPN entry becomes an otherName SAN.'),
    keyAlgorithm: keyAlgorithm.default('RSA-2048'),
    validity: duration.default('365d'),
    renewBefore: duration.default('30d'),
    usages: z
      .strictObject({
        clientAuthentication: z.boolean().default(true),
        ipsec: z.boolean().default(false).describe('IPSEC end system / user extended key usages.'),
        smartCardLogon: z.boolean().default(false).describe(`Smart-card logon (${SMART_CARD_LOGON_OID}); requires a UPN subject alternative name.`),
        customOids: z
          .array(z.string().regex(OID_PATTERN, { error: 'must be a dotted OID such as 1.3.6.1.5.5.7.3.2' }))
          .optional()
          .describe('More extended key usages, as dotted OIDs.'),
      })
      .default({ clientAuthentication: true, ipsec: false, smartCardLogon: false }),
  })
  .superRefine((id, ctx) => {
    if (id.usages.smartCardLogon && !id.subjectAltNames?.some((s) => s.type === 'UPN')) {
      ctx.addIssue({
        code: 'custom',
        path: ['usages', 'smartCardLogon'],
        message: 'smart-card logon requires a UPN subject alternative name',
        params: { hint: 'add subjectAltNames: [{ type: UPN, value: "${userUPN}" }]' },
      });
    }
    const u = id.usages;
    if (!u.clientAuthentication && !u.ipsec && !u.smartCardLogon && !u.customOids?.length) {
      // A certificate without extended key usages is good for any purpose: never by accident.
      ctx.addIssue({ code: 'custom', path: ['usages'], message: 'give at least one usage: clientAuthentication, ipsec, smartCardLogon or customOids' });
    }
    const scOid = id.usages.customOids?.indexOf(SMART_CARD_LOGON_OID) ?? -1;
    if (scOid >= 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['usages', 'customOids', scOid],
        message: 'this is the smart-card logon OID; set usages.smartCardLogon: true instead',
        params: { hint: 'smart-card logon also needs a UPN subject alternative name' },
      });
    }
    if (parseDuration(id.renewBefore) >= parseDuration(id.validity)) {
      ctx.addIssue({ code: 'custom', path: ['renewBefore'], message: 'renewBefore must be shorter than validity' });
    }
  });

export const certificateConfigurationSpec = z
  .strictObject({
    description: z.string().optional(),
    uploaded: z
      .strictObject({
        certificate: fileSource.describe('The certificate file: PEM, DER or PKCS#12.'),
        format: z.enum(['PEM', 'DER', 'PKCS12']).optional().describe('Defaults from the file extension (.pem/.crt, .der/.cer, .p12/.pfx).'),
        passwordSecretRef: secretRef.optional().describe('Password of a PKCS#12 file.'),
      })
      .optional()
      .describe('An uploaded certificate.'),
    identity: identityCertificate.optional().describe('Identity certificates issued per user by a CA.'),
    enabled: z.boolean().default(true).describe('Enable this configuration.'),
    spaceRef: ref('Space').optional().describe('The space that owns this configuration; the default (global) space when absent.'),
    distribution: z
      .strictObject({
        devices: z.enum(['AllDevices', 'NoDevices', 'Custom']).default('NoDevices'),
        selector: z
          .strictObject({
            groups: z.array(z.string().min(1)).optional().describe('Directory groups whose devices receive it.'),
            matchLabels: z.record(z.string(), z.string()).optional().describe('Device labels.'),
          })
          .optional()
          .describe('Which devices, for Custom.'),
        otherSpaces: z
          .enum(['DoNotApply', 'ApplyToDevicesInOtherSpaces'])
          .default('DoNotApply')
          .describe('Whether devices in other spaces receive it too.'),
        allowSpaceAdminToModifyDistribution: z
          .boolean()
          .default(false)
          .describe('Let delegated space administrators change the distribution for their space.'),
      })
      .default({ devices: 'NoDevices', otherSpaces: 'DoNotApply', allowSpaceAdminToModifyDistribution: false }),
    availableInAllSpaces: z
      .boolean()
      .default(false)
      .describe('Usable by Exchange, Wi-Fi, VPN and per-app VPN configurations in every space.'),
    ...policies('Delete'),
  })
  .superRefine((spec, ctx) => {
    if (!spec.uploaded === !spec.identity) {
      ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of uploaded (a certificate file) or identity (certificates issued by a CA)' });
    }
    if (spec.uploaded && uploadedContent(spec.uploaded.format, spec.uploaded.certificate.file) === 'pkcs12' && !spec.uploaded.passwordSecretRef) {
      ctx.addIssue({ code: 'custom', path: ['uploaded'], message: 'a PKCS12 certificate needs passwordSecretRef' });
    }
    const d = spec.distribution;
    if (d.devices === 'Custom' && !d.selector) {
      ctx.addIssue({ code: 'custom', path: ['distribution'], message: 'distribution Custom requires a selector' });
    }
    if (d.devices !== 'Custom' && d.selector) {
      ctx.addIssue({ code: 'custom', path: ['distribution', 'selector'], message: 'selector applies only to distribution Custom' });
    }
    if (d.allowSpaceAdminToModifyDistribution && d.otherSpaces !== 'ApplyToDevicesInOtherSpaces') {
      ctx.addIssue({
        code: 'custom',
        path: ['distribution', 'allowSpaceAdminToModifyDistribution'],
        message: 'allowSpaceAdminToModifyDistribution applies only with otherSpaces: ApplyToDevicesInOtherSpaces',
      });
    }
    if (d.otherSpaces === 'ApplyToDevicesInOtherSpaces' && d.devices === 'NoDevices') {
      ctx.addIssue({ code: 'custom', path: ['distribution', 'otherSpaces'], message: 'otherSpaces applies only to distribution AllDevices or Custom' });
    }
  });

export const certificateConfigurationStatus = z.strictObject({
  ...statusBase,
  subject: z.string().optional(),
  issuer: z.string().optional(),
  fingerprintSha256: z.string().optional(),
  notAfter: z.string().optional(),
  reachedCount: z.number().int().optional().describe('Users the distribution reaches.'),
  issuedCount: z.number().int().optional().describe('Identity certificates held.'),
  waitingCount: z.number().int().optional().describe('Users reached who have no current certificate.'),
  problems: z.array(z.string()).optional().describe('Why some users have no certificate (at most 10).'),
  ambiguousGroups: z.array(z.string()).optional().describe('Group names of the distribution or spaces that more than one group bears.'),
});

export type CertificateConfigurationSpec = z.output<typeof certificateConfigurationSpec>;

function uploadedContent(format: string | undefined, file: string | undefined): 'certificates' | 'pkcs12' {
  if (format === 'PKCS12' || (!format && /\.(p12|pfx)$/i.test(file ?? ''))) return 'pkcs12';
  return 'certificates';
}

export const CertificateConfiguration = defineKind({
  kind: 'CertificateConfiguration',
  plural: 'certificateconfigurations',
  shortNames: ['certcfg'],
  description: 'A certificate distributed to devices: an uploaded certificate, or identity certificates issued by a CA.',
  spec: certificateConfigurationSpec,
  status: certificateConfigurationStatus,
  printerColumns: [
    { name: 'Issuer', type: 'string', jsonPath: '.spec.identity.certificateAuthorityRef.name' },
    { name: 'Distribution', type: 'string', jsonPath: '.spec.distribution.devices' },
  ],
  references: (spec) =>
    refsOf(
      spec.identity && { path: ['spec', 'identity', 'certificateAuthorityRef'], kind: 'CertificateAuthority', name: spec.identity.certificateAuthorityRef.name },
      spec.spaceRef && { path: ['spec', 'spaceRef'], kind: 'Space', name: spec.spaceRef.name },
    ),
  files: (spec): FileField[] =>
    spec.uploaded
      ? [{ path: ['spec', 'uploaded', 'certificate'], source: spec.uploaded.certificate, content: uploadedContent(spec.uploaded.format, spec.uploaded.certificate.file) }]
      : [],
});
