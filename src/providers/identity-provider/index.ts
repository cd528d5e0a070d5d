// IdentityProvider: the record, with the IdP's entity ID from its metadata.
import { parseIdpMetadata } from '../../identity/saml-metadata.js';
import { recordProvider } from '../record.js';

export const identityProviderProvider = recordProvider({
  kind: 'IdentityProvider',
  async inspect(_ctx, d) {
    const metadata = d.files['spec.metadata'];
    return metadata ? { status: { entityId: parseIdpMetadata(metadata.bytes.toString('utf8')).entityId } } : {};
  },
});
