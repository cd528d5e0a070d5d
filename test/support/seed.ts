// Users put into the tenant store directly, for tests of what is done with them (certificates,
// distribution), not of how they are synced (the identity source tests do that against real servers).
import { join } from 'node:path';
import { openStore, parseStoreSpec } from '../../src/store/open.js';
import type { Write } from '../../src/store/types.js';
import type { DirectoryUser } from '../../src/api/index.js';

async function commit(dir: string, writes: Write[]) {
  const store = await openStore(parseStoreSpec(`sqlite:${join(dir, '.mdmops/tenant.db')}`));
  try {
    await store.commit(writes);
  } finally {
    await store.close();
  }
}

export type UserSeed = Partial<DirectoryUser> & { id: string; upn: string };

export const putUsers = (dir: string, users: UserSeed[], tenant = 'default') =>
  commit(dir, users.map((u) => ({ op: 'putUser', user: { tenant, source: 'EntraIdSource/entra', groups: [], attributes: {}, labels: {}, ...u } })));

export const deleteUser = (dir: string, id: string, tenant = 'default') => commit(dir, [{ op: 'deleteUser', tenant, id }]);
