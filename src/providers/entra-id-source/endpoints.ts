// Where each national cloud's identity platform and Graph live, unless the spec overrides them.
const AUTHORITY: Record<string, string> = {
  AzurePublic: 'https://login.microsoftonline.com',
  AzureUSGovernment: 'https://login.microsoftonline.us',
  AzureChina: 'https://login.chinacloudapi.cn',
};

const GRAPH: Record<string, string> = {
  AzurePublic: 'https://graph.microsoft.com',
  AzureUSGovernment: 'https://graph.microsoft.us',
  AzureChina: 'https://microsoftgraph.chinacloudapi.cn',
};

export const authorityOf = (spec: Record<string, unknown>) => String(spec.authorityHost ?? AUTHORITY[String(spec.cloud ?? 'AzurePublic')]);
export const graphOf = (spec: Record<string, unknown>) => String(spec.graphEndpoint ?? GRAPH[String(spec.cloud ?? 'AzurePublic')]);
