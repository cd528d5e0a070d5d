// IdentityProvider through the CLI: the IdP's metadata checked, the service provider's published.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { XMLParser } from 'fast-xml-parser';
import { idpMetadata, signingCertificate } from './support/saml.js';
import { doc, workspace } from './support/workspace.js';

const ENTITY = 'https://sts.contoso.com/adfs/services/trust';
let current: Buffer, expired: Buffer, expiring: Buffer;
beforeAll(async () => {
  [current, expired, expiring] = await Promise.all([
    signingCertificate('ADFS Signing - sts.contoso.com', -30, 365),
    signingCertificate('ADFS Signing - old', -400, -35),
    signingCertificate('ADFS Signing - soon', -300, 10),
  ]);
});

const idp = (extra = '') => doc('IdentityProvider', 'adfs', `type: GenericSaml2\nmetadata: { file: idp.xml }${extra}`);
const status = (ws: ReturnType<typeof workspace>) => JSON.parse(ws.run(['status', 'IdentityProvider/adfs', '-o', 'json']).stdout).status;

describe('IdentityProvider', () => {
  it('refuses metadata without a signing certificate, naming the file', () => {
    const ws = workspace();
    ws.write('config/idp.xml', idpMetadata(ENTITY, []));
    ws.write('config/idp.yaml', idp());
    const r = ws.run(['validate', '-f', 'config']);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('config/idp.yaml:7:21: IdentityProvider/adfs: spec.metadata.file: idp.xml: the identity provider declares no signing certificate');
  });

  it('checks the IdP metadata and publishes the service provider metadata', () => {
    const ws = workspace();
    ws.write('config/idp.xml', idpMetadata(ENTITY, [expired, current]));
    ws.write('config/idp.yaml', idp());
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    let s = status(ws);
    expect(s.entityId).toBe(ENTITY);
    expect(s.singleSignOnUrls).toEqual([`${ENTITY}/sso`]);
    expect(s.signingCertificates.map((c: { subject: string }) => c.subject)).toEqual(['CN=ADFS Signing - old', 'CN=ADFS Signing - sts.contoso.com']);
    expect(s.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'MetadataValid' });
    const none = ws.run(['idp', 'metadata']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('set spec.serviceUrl');

    ws.write('config/idp.yaml', idp('\nserviceUrl: https://mdm.contoso.com'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const out = ws.run(['idp', 'metadata']);
    expect(out.code, out.stderr).toBe(0);
    const sp = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', removeNSPrefix: true }).parse(out.stdout).EntityDescriptor;
    expect(sp['@entityID']).toBe('https://mdm.contoso.com/saml/default/metadata');
    expect(sp.SPSSODescriptor.AssertionConsumerService['@Location']).toBe('https://mdm.contoso.com/saml/default/acs');
    const cert = ws.write('sp.pem', `-----BEGIN CERTIFICATE-----\n${sp.SPSSODescriptor.KeyDescriptor.KeyInfo.X509Data.X509Certificate}\n-----END CERTIFICATE-----\n`);
    const text = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-subject', '-checkend', String(5 * 365 * 86400)], { encoding: 'utf8' });
    expect(text).toContain('CN = mdmops SAML service provider default');
    expect(text).toContain('Certificate will not expire');
    // The key is made once: another apply publishes the same certificate.
    ws.write('config/idp.yaml', idp('\nserviceUrl: https://mdm2.contoso.com'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const again = ws.run(['idp', 'metadata']).stdout;
    expect(again).toContain('https://mdm2.contoso.com/saml/default/acs');
    expect(again).toContain(sp.SPSSODescriptor.KeyDescriptor.KeyInfo.X509Data.X509Certificate);
    s = status(ws);
    expect(s.serviceProviderEntityId).toBe('https://mdm2.contoso.com/saml/default/metadata');
  });

  it('is not Ready when every signing certificate has expired, and warns before', () => {
    const ws = workspace();
    ws.write('config/idp.xml', idpMetadata(ENTITY, [expired]));
    ws.write('config/idp.yaml', idp());
    ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(status(ws).conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'IdpCertificateExpired' });
    expect(ws.run(['notifications']).stdout).toMatch(/IdpCertificateExpired.*no signing certificate of the identity provider is in force: "CN=ADFS Signing - old"/);

    ws.write('config/idp.xml', idpMetadata(ENTITY, [expiring]));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    expect(status(ws).conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    const notes = ws.run(['notifications']).stdout;
    expect(notes).toContain('IdpCertificateExpiring');
    // Active notifications only: the expired one is resolved.
    expect(notes).not.toMatch(/IdpCertificateExpired\b/);
  });
});
