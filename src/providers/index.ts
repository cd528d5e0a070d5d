// Every kind's provider, registered in one place.
import { ProviderRegistry } from '../engine/provider.js';
import { certificateAuthorityProvider } from './certificate-authority/index.js';
import { certificateConfigurationProvider } from './certificate-configuration/index.js';
import { connectorProvider } from './connector/index.js';
import { coreSyncTargetProvider } from './core-sync-target/index.js';
import { entraIdSourceProvider } from './entra-id-source/index.js';
import { identityProviderProvider } from './identity-provider/index.js';
import { ldapSourceProvider } from './ldap-source/index.js';
import { spaceProvider } from './space/index.js';
import { sqlProvisioningProvider } from './sql-provisioning/index.js';

export function defaultProviders(): ProviderRegistry {
  return new ProviderRegistry([
    connectorProvider,
    certificateAuthorityProvider,
    certificateConfigurationProvider,
    spaceProvider,
    entraIdSourceProvider,
    ldapSourceProvider,
    identityProviderProvider,
    coreSyncTargetProvider,
    sqlProvisioningProvider,
  ]);
}
