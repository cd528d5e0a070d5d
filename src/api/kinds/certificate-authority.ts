// CertificateAuthority (seed 001): local, intermediate, public cloud (ACME), SCEP and non-SCEP on-premises.
import { z } from 'zod';
import { defineKind, fieldsByType, refsOf, type FileField } from '../kind.js';
import { duration, fileSource, httpUrl, keyAlgorithm, policies, ref, secretRef, sha256Fingerprint, statusBase } from '../common.js';
import { parseDuration } from '../duration.js';

export const CA_TYPES = ['Local', 'Intermediate', 'PublicCloud', 'ScepOnPremises', 'NonScepOnPremises'] as const;
export type CaType = (typeof CA_TYPES)[number];

/** What each type of CA can do: the tenant rules (api/rules.ts) and the spec's refinement below read this table. */
export const CA_CAPABILITIES: Record<CaType, {
  /** mdmops holds its key pair and signs with it (and so may sign intermediates). */
  holdsKey: boolean;
  /** It issues IPSEC, smart-card logon and custom-OID certificates. */
  extendedUsages: boolean;
  /** The key it certifies must be RSA (SCEP returns the certificate encrypted to it). */
  rsaKeysOnly: boolean;
  /** It is reached through a connector only: connectorRef is required (which types may name one: fieldsByType below). */
  connectorRequired: boolean;
}> = {
  Local: { holdsKey: true, extendedUsages: true, rsaKeysOnly: false, connectorRequired: false },
  Intermediate: { holdsKey: true, extendedUsages: true, rsaKeysOnly: false, connectorRequired: false },
  PublicCloud: { holdsKey: false, extendedUsages: false, rsaKeysOnly: false, connectorRequired: false },
  ScepOnPremises: { holdsKey: false, extendedUsages: true, rsaKeysOnly: true, connectorRequired: true },
  NonScepOnPremises: { holdsKey: false, extendedUsages: false, rsaKeysOnly: false, connectorRequired: false },
};

export const subject = z
  .strictObject({
    commonName: z.string().min(1).max(64),
    organization: z.string().min(1).optional(),
    organizationalUnit: z.string().min(1).optional(),
    country: z.string().regex(/^[A-Z]{2}$/, { error: 'must be a two-letter ISO 3166 country code such as FR' }).optional(),
    state: z.string().min(1).optional(),
    locality: z.string().min(1).optional(),
  })
  .describe('Distinguished name of the CA certificate.');

const caShape = {
  type: z.enum(CA_TYPES).describe('Which kind of certificate authority this is.'),
  description: z.string().optional(),
  // Local and Intermediate
  subject: subject.optional(),
  keyAlgorithm: keyAlgorithm.optional().describe('Key type and size (Local, Intermediate: RSA-2048; PublicCloud account key: ECDSA-P256).'),
  validity: duration.optional().describe('Lifetime of the CA certificate (Local: 3650d, Intermediate: 1825d).'),
  renewBefore: duration.optional().describe('Renew this long before expiry (default 30d).'),
  // Intermediate
  issuerRef: ref('CertificateAuthority')
    .optional()
    .describe('Another CertificateAuthority that signs this intermediate.'),
  externalSigner: z
    .strictObject({
      signedCertificate: fileSource.optional().describe('The certificate your CA signed from the published CSR.'),
      chain: fileSource.optional().describe('The chain up to your root, PEM.'),
    })
    .optional()
    .describe('Signed by your existing CA: status publishes the CSR; commit the signed certificate and chain here.'),
  // PublicCloud (ACME)
  directoryUrl: httpUrl.optional().describe('ACME directory URL (RFC 8555).'),
  email: z.email({ error: 'must be an e-mail address' }).optional().describe('ACME account contact.'),
  termsOfServiceAgreed: z.boolean().optional().describe("Agree to the ACME CA's terms of service."),
  externalAccountBinding: z
    .strictObject({ keyId: z.string().min(1), hmacKeySecretRef: secretRef })
    .optional()
    .describe('ACME external account binding.'),
  // ScepOnPremises and NonScepOnPremises
  url: httpUrl.optional().describe('URL of the on-premises CA (the SCEP endpoint for SCEP).'),
  connectorRef: ref('Connector').optional().describe('Connector that reaches the CA.'),
  challengeSecretRef: secretRef.optional().describe('SCEP challenge password.'),
  caFingerprint: sha256Fingerprint.optional().describe('Pin: SHA-256 fingerprint of the SCEP CA certificate.'),
  passwordSecretRef: secretRef.optional().describe('Password that decrypts the authentication certificate.'),
  authenticationCertificate: fileSource.optional().describe('PKCS#12 (.p12) authentication certificate from OpenTrust/IDnomic.'),
  tlsCaChain: fileSource.optional().describe('PEM chain of the CA server TLS certificate.'),
  ...policies('Orphan'),
};

export const certificateAuthoritySpec = fieldsByType(
  caShape,
  {
    Local: { required: ['subject'], optional: ['keyAlgorithm', 'validity', 'renewBefore'], defaults: { keyAlgorithm: 'RSA-2048', validity: '3650d', renewBefore: '30d' } },
    Intermediate: {
      required: ['subject'],
      optional: ['keyAlgorithm', 'validity', 'renewBefore', 'issuerRef', 'externalSigner'],
      defaults: { keyAlgorithm: 'RSA-2048', validity: '1825d', renewBefore: '30d' },
    },
    PublicCloud: { required: ['directoryUrl', 'email'], optional: ['termsOfServiceAgreed', 'externalAccountBinding', 'keyAlgorithm'], defaults: { keyAlgorithm: 'ECDSA-P256', termsOfServiceAgreed: false } },
    ScepOnPremises: { required: ['url', 'challengeSecretRef'], optional: ['connectorRef', 'caFingerprint'] },
    NonScepOnPremises: { required: ['url', 'passwordSecretRef', 'authenticationCertificate', 'tlsCaChain'], optional: ['connectorRef'] },
  },
  ['type', 'description', 'suspend', 'managementPolicy', 'deletionPolicy'],
).superRefine((spec, ctx) => {
  if (CA_CAPABILITIES[spec.type].connectorRequired && !spec.connectorRef) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: `a ${spec.type} CA is reached through a connector: connectorRef is required`,
      params: { hint: 'add connectorRef: { name: <Connector> }' },
    });
  }
  if (spec.type === 'Intermediate' && !spec.issuerRef === !spec.externalSigner) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: 'an Intermediate CA needs exactly one of issuerRef (signed by another CertificateAuthority) or externalSigner (signed by your own CA)',
    });
  }
  if (spec.validity && spec.renewBefore && parseDuration(spec.renewBefore as string) >= parseDuration(spec.validity as string)) {
    ctx.addIssue({ code: 'custom', path: ['renewBefore'], message: 'renewBefore must be shorter than validity' });
  }
});

export const certificateAuthorityStatus = z.strictObject({
  ...statusBase,
  certificate: z.string().optional().describe('The CA certificate, PEM (for a SCEP CA: the certificate its server publishes).'),
  chain: z.string().optional().describe('The certificates above it up to the root, PEM.'),
  capabilities: z.array(z.string()).optional().describe('What a SCEP CA says it supports (GetCACaps).'),
  accountUrl: z.string().optional().describe('The ACME account of a PublicCloud CA.'),
  authentication: z
    .strictObject({ subject: z.string(), notAfter: z.string(), fingerprintSha256: z.string() })
    .optional()
    .describe('The authentication certificate of a non-SCEP CA.'),
  fingerprintSha256: z.string().optional(),
  trustedOnFirstUse: z
    .string()
    .optional()
    .describe('A SCEP CA without caFingerprint: the SHA-256 of the CA certificate first seen, which a later one must match (commit caFingerprint to change it).'),
  notBefore: z.string().optional(),
  notAfter: z.string().optional(),
  csr: z.string().optional().describe('For an externally signed Intermediate: the CSR to have signed.'),
  publicKeySha256: z.string().optional().describe('SHA-256 of the CA key pair\'s public key (SubjectPublicKeyInfo).'),
});

export type CertificateAuthoritySpec = z.output<typeof certificateAuthoritySpec>;

export const CertificateAuthority = defineKind({
  kind: 'CertificateAuthority',
  plural: 'certificateauthorities',
  shortNames: ['ca'],
  description: 'A certificate authority: local, intermediate, public cloud (ACME), SCEP or non-SCEP on-premises.',
  spec: certificateAuthoritySpec,
  status: certificateAuthorityStatus,
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.type' },
    { name: 'Expires', type: 'string', jsonPath: '.status.notAfter' },
  ],
  references: (spec) =>
    refsOf(
      spec.connectorRef && { path: ['spec', 'connectorRef'], kind: 'Connector', name: spec.connectorRef.name },
      spec.issuerRef && { path: ['spec', 'issuerRef'], kind: 'CertificateAuthority', name: spec.issuerRef.name },
    ),
  files: (spec) => {
    const out: FileField[] = [];
    if (spec.externalSigner?.signedCertificate) out.push({ path: ['spec', 'externalSigner', 'signedCertificate'], source: spec.externalSigner.signedCertificate, content: 'certificates' });
    if (spec.externalSigner?.chain) out.push({ path: ['spec', 'externalSigner', 'chain'], source: spec.externalSigner.chain, content: 'certificates' });
    if (spec.authenticationCertificate) out.push({ path: ['spec', 'authenticationCertificate'], source: spec.authenticationCertificate, content: 'pkcs12' });
    if (spec.tlsCaChain) out.push({ path: ['spec', 'tlsCaChain'], source: spec.tlsCaChain, content: 'certificates' });
    return out;
  },
});
