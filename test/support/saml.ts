// SAML 2.0 metadata of an identity provider, with a signing certificate valid when the test says.
import { createPublicKey } from 'node:crypto';
import { issueCertificate, KeyUsage } from '../../src/pki/certificate.js';
import { makeKey } from '../../src/pki/keys.js';
import { subjectName } from '../../src/pki/name.js';

const DAY = 86_400_000;

export async function signingCertificate(commonName: string, fromDays: number, toDays: number): Promise<Buffer> {
  const key = await makeKey('ECDSA-P256');
  const name = subjectName({ commonName });
  return issueCertificate({
    subject: name,
    publicKey: createPublicKey(key),
    issuer: { name, key, publicKey: createPublicKey(key) },
    notBefore: new Date(Date.now() + fromDays * DAY),
    notAfter: new Date(Date.now() + toDays * DAY),
    keyUsage: [KeyUsage.digitalSignature],
  });
}

export function idpMetadata(entityId: string, certificates: Buffer[], sso = `${entityId}/sso`): string {
  const keys = certificates
    .map((c) => `<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${c.toString('base64')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`)
    .join('');
  return `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    ${keys}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${sso}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
`;
}
