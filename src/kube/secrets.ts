// Secret refs of a custom resource read from Secrets in its own namespace (the tenant): a resource
// can only name Secrets its tenant holds.
import type { SecretRef, SecretResolver } from '../config/secrets.js';
import { isNotFound, type KubeClient } from './client.js';

export class KubeSecrets implements SecretResolver {
  constructor(private readonly client: KubeClient) {}

  async resolve(tenant: string, ref: SecretRef): Promise<string | undefined> {
    let secret: { data?: Record<string, string> };
    try {
      secret = await this.client.request('GET', `/api/v1/namespaces/${encodeURIComponent(tenant)}/secrets/${encodeURIComponent(ref.name)}`);
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
    const b64 = secret.data?.[ref.key];
    // A trailing newline left by `kubectl create secret --from-file` is not part of the secret.
    return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8').replace(/\r?\n$/, '');
  }

  where(tenant: string, ref: SecretRef): string {
    return `create Secret "${ref.name}" with key "${ref.key}" in namespace "${tenant}"`;
  }
}
