// Secret values named by secretRef fields. Standalone mode reads a secrets folder laid out as
// Kubernetes projects Secrets (<dir>/<name>/<key>) or the environment; the controller supplies its own.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SecretRef {
  name: string;
  key: string;
}

export interface SecretResolver {
  resolve(tenant: string, ref: SecretRef): Promise<string | undefined>;
  /** Tells an administrator where to put a missing secret. */
  where(tenant: string, ref: SecretRef): string;
}

export function envName(ref: SecretRef): string {
  return `MDMOPS_SECRET_${ref.name}_${ref.key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

export class StandaloneSecrets implements SecretResolver {
  constructor(
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async resolve(_tenant: string, ref: SecretRef) {
    const fromEnv = this.env[envName(ref)];
    if (fromEnv !== undefined) return fromEnv;
    try {
      // A trailing newline left by an editor or `echo` is not part of the secret.
      return readFileSync(join(this.dir, ref.name, ref.key), 'utf8').replace(/\r?\n$/, '');
    } catch {
      return undefined;
    }
  }

  where(_tenant: string, ref: SecretRef) {
    return `write it to ${join(this.dir, ref.name, ref.key)} or set ${envName(ref)}`;
  }
}
