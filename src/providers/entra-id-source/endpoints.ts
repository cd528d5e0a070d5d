// Where each national cloud's identity platform and Graph live, unless the spec overrides them.
import type { EntraIdSource } from '../../api/index.js';
import type { OutboundPolicy } from '../../net/outbound.js';
import type { SpecOf } from '../record.js';

type Endpoints = Pick<SpecOf<typeof EntraIdSource>, 'cloud' | 'authorityHost' | 'graphEndpoint' | 'allowedAuthorityHosts'>;

const AUTHORITY: Record<Endpoints['cloud'], string> = {
  AzurePublic: 'https://login.microsoftonline.com',
  AzureUSGovernment: 'https://login.microsoftonline.us',
  AzureChina: 'https://login.chinacloudapi.cn',
};

const GRAPH: Record<Endpoints['cloud'], string> = {
  AzurePublic: 'https://graph.microsoft.com',
  AzureUSGovernment: 'https://graph.microsoft.us',
  AzureChina: 'https://microsoftgraph.chinacloudapi.cn',
};

export const authorityOf = (spec: Endpoints) => spec.authorityHost ?? AUTHORITY[spec.cloud];
export const graphOf = (spec: Endpoints) => spec.graphEndpoint ?? GRAPH[spec.cloud];

const MICROSOFT_HOSTS = new Set([...Object.values(AUTHORITY), ...Object.values(GRAPH)].map((u) => new URL(u).hostname));

/**
 * Why the app's credentials (and the tokens they buy) may not go to the spec's endpoints: in the
 * modes tenants share, a host that is not a Microsoft cloud's must be listed in allowedAuthorityHosts,
 * unless the server allows internal targets.
 */
export function endpointRefusal(spec: Endpoints, policy: OutboundPolicy | undefined): string | undefined {
  if (!policy || policy.allowInternal) return undefined;
  const allowed = new Set(spec.allowedAuthorityHosts?.map((h) => h.toLowerCase()));
  for (const [field, url] of [['authorityHost', authorityOf(spec)], ['graphEndpoint', graphOf(spec)]] as const) {
    const host = new URL(url).hostname.toLowerCase();
    if (!MICROSOFT_HOSTS.has(host) && !allowed.has(host)) {
      return `${field} ${url} is not a Microsoft cloud's: list ${host} in spec.allowedAuthorityHosts to send the app's credentials there (or start mdmops with --allow-internal-targets)`;
    }
  }
  return undefined;
}
