// EntraIdSource: the record, and whether the Microsoft identity platform can be reached.
import { probeUrl } from '../../net/probe.js';
import { recordProvider, unreachable } from '../record.js';

const AUTHORITY: Record<string, string> = {
  AzurePublic: 'https://login.microsoftonline.com',
  AzureUSGovernment: 'https://login.microsoftonline.us',
  AzureChina: 'https://login.chinacloudapi.cn',
};

export const entraIdSourceProvider = recordProvider({
  kind: 'EntraIdSource',
  async inspect(_ctx, d) {
    if (d.spec.enabled === false) return { ready: { status: true, reason: 'Disabled', message: 'enabled is false: no users are synced' } };
    const authority = String(d.spec.authorityHost ?? AUTHORITY[String(d.spec.cloud)]);
    const probe = await probeUrl(authority);
    if (!probe.ok) return unreachable('EntraUnreachable', `Entra ID authority ${authority} cannot be reached (${probe.message})`);
    return { ready: { status: true, reason: 'Reachable', message: probe.message } };
  },
});
