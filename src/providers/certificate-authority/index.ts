// CertificateAuthority: local and intermediate CAs hold a key pair in the tenant store; the
// on-premises and public-cloud CAs are servers that must be reachable (through a connector or directly).
import { probeUrl } from '../../net/probe.js';
import { dependencyReady, recordProvider, unreachable } from '../record.js';
import { makeKeyPair, publicKeySha256 } from './keys.js';

const holdsKey = (type: unknown) => type === 'Local' || type === 'Intermediate';

export const certificateAuthorityProvider = recordProvider({
  kind: 'CertificateAuthority',
  // A new type, key or name is a new CA: a new key pair, and everything it issued is issued again.
  replaceOn: ['type', 'keyAlgorithm', 'subject'],
  async materialize(_ctx, d) {
    if (!holdsKey(d.spec.type)) return {};
    const key = await makeKeyPair(String(d.spec.keyAlgorithm));
    return { blobs: [{ purpose: 'private-key', value: key }], status: { publicKeySha256: publicKeySha256(key) } };
  },
  async inspect(ctx, d, record) {
    const spec = d.spec;
    const tenant = d.id.tenant;
    if (holdsKey(spec.type)) {
      if (record && !(await ctx.store.listBlobs(d.id)).includes('private-key')) {
        const message = 'the private key is missing from the tenant store; replace the CA (change its subject or key algorithm) to make a new one';
        return { ready: { status: false, reason: 'KeyMissing', message }, notices: [{ reason: 'KeyMissing', severity: 'Error', message }] };
      }
      const issuer = spec.issuerRef as { name: string } | undefined;
      if (issuer) return (await dependencyReady(ctx, { tenant, kind: 'CertificateAuthority', name: issuer.name }, 'Issuer')) ?? keyReady;
      return keyReady;
    }
    const connector = spec.connectorRef as { name: string } | undefined;
    if (connector) return (await dependencyReady(ctx, { tenant, kind: 'Connector', name: connector.name }, 'Connector')) ?? {};
    const url = String(spec.type === 'PublicCloud' ? spec.directoryUrl : spec.url);
    const probe = await probeUrl(url);
    if (!probe.ok) return unreachable('CAServerUnreachable', `CA server ${url} cannot be reached (${probe.message})`);
    return { ready: { status: true, reason: 'Reachable', message: probe.message } };
  },
  async impact(_ctx, d, _record, replace) {
    return replace.length && holdsKey(d.spec.type) ? ['a new key pair replaces the current one: certificates it issued are issued again'] : [];
  },
});

const keyReady = { ready: { status: true, reason: 'KeyReady', message: 'key pair held in the tenant store' } };
