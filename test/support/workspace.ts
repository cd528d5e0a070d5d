// A throwaway folder with a configuration in it, where mdmops keeps its .mdmops/ state.
import { cpSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import type { DirectoryUser } from '../../src/api/index.js';
import { openStore, parseStoreSpec } from '../../src/store/open.js';
import { mdmops, ROOT, type Run } from './cli.js';

export interface Workspace {
  dir: string;
  /** Writes a file under the workspace (creating folders). */
  write(path: string, text: string): string;
  remove(path: string): void;
  run(args: string[], env?: NodeJS.ProcessEnv): Run;
}

export function workspace(withExample = false): Workspace {
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-ws-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  if (withExample) cpSync(join(ROOT, 'examples/tenant'), join(dir, 'config'), { recursive: true });
  return {
    dir,
    write(path, text) {
      const full = join(dir, path);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, text);
      return full;
    },
    remove(path) {
      rmSync(join(dir, path), { recursive: true, force: true });
    },
    run: (args, env) => mdmops(args, { cwd: dir, env }),
  };
}

export const doc = (kind: string, name: string, spec: string) =>
  `apiVersion: mdmops.io/v1alpha1\nkind: ${kind}\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n---\n`;

/** The users the workspace's tenant store holds for a tenant, read as the store keeps them. */
export async function storedUsers(ws: Workspace, tenant = 'default'): Promise<DirectoryUser[]> {
  const store = await openStore(parseStoreSpec(`sqlite:${join(ws.dir, '.mdmops/tenant.db')}`));
  try {
    return await store.listUsers(tenant);
  } finally {
    await store.close();
  }
}
