// Secret values named by secretRef fields. Standalone mode reads a secrets folder laid out as
// Kubernetes projects Secrets, one folder per tenant other than default, or the environment; the
// controller supplies its own. A tenant can only name its own secrets.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface SecretRef {
  name: string;
  key: string;
}

export interface SecretResolver {
  resolve(tenant: string, ref: SecretRef): Promise<string | undefined>;
  /** Tells an administrator where to put a missing secret. */
  where(tenant: string, ref: SecretRef): string;
  /** Refs this resolver cannot tell from one before them: the later one's index, and why. */
  conflicts?(refs: { tenant: string; ref: SecretRef }[]): { index: number; message: string }[];
}

const DEFAULT_TENANT = 'default';

/** One tenant, Secret name or key in an environment name: runs of other characters become one '_'. */
const envPart = (text: string) => text.toUpperCase().replace(/[^A-Z0-9]+/g, '_');

/**
 * MDMOPS_SECRET_<NAME>__<KEY>, or MDMOPS_SECRET_<TENANT>__<NAME>__<KEY> for tenants other than
 * default. No part holds '__' (runs fold to one '_'), so one tenant's name never reads as another's;
 * within a tenant, `a-b` and `a.b` meet, which conflicts() reports.
 */
export function envName(tenant: string, ref: SecretRef): string {
  return `MDMOPS_SECRET_${[...(tenant === DEFAULT_TENANT ? [] : [tenant]), ref.name, ref.key].map(envPart).join('__')}`;
}


/** Standalone secrets: files laid out per tenant as Kubernetes projects Secrets, or the environment. */
export class StandaloneSecrets implements SecretResolver {
  constructor(
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** <dir>/<name>/<key> for the default tenant, <dir>/<tenant>/<name>/<key> for the others. */
  private file(tenant: string, ref: SecretRef): string {
    return tenant === DEFAULT_TENANT ? join(this.dir, ref.name, ref.key) : join(this.dir, tenant, ref.name, ref.key);
  }

  async resolve(tenant: string, ref: SecretRef) {
    const fromEnv = this.env[envName(tenant, ref)];
    if (fromEnv !== undefined) return fromEnv;
    // Not there (or not a file): the resource reports the secret missing, with where(). Looked at
    // first rather than caught: a plan may ask for thousands, and each error costs a stack trace.
    const file = this.file(tenant, ref);
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) return undefined;
    try {
      // A trailing newline left by an editor or `echo` is not part of the secret.
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch {
      return undefined; // unreadable, or gone since
    }
  }

  where(tenant: string, ref: SecretRef) {
    return `write it to ${this.file(tenant, ref)} or set ${envName(tenant, ref)}`;
  }

  conflicts(refs: { tenant: string; ref: SecretRef }[]): { index: number; message: string }[] {
    const byName = new Map<string, string>();
    const problems: { index: number; message: string }[] = [];
    refs.forEach(({ tenant, ref }, index) => {
      const name = envName(tenant, ref);
      const shown = `${tenant === DEFAULT_TENANT ? '' : `${tenant}/`}${ref.name}/${ref.key}`;
      const first = byName.get(name);
      if (first === undefined) byName.set(name, shown);
      else if (first !== shown) problems.push({ index, message: `secrets ${first} and ${shown} would both be read from ${name}: rename one of them` });
    });
    return problems;
  }
}
