// What later issues will bring into the tenant store (users from identity sources, connector agents
// checking in), put there directly by the tests until then.
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

/** A connector agent checking in: its record says connected. */
export async function connectAgent(dir: string, name: string, tenant = 'default') {
  const store = await openStore(parseStoreSpec(`sqlite:${join(dir, '.mdmops/tenant.db')}`));
  try {
    const record = await store.getRecord({ tenant, kind: 'Connector', name });
    if (!record) throw new Error(`no Connector/${name} in the store: apply it first`);
    await store.commit([{ op: 'putRecord', record: { ...record, status: { ...record.status, connected: true, hostname: 'agent-1' } } }]);
  } finally {
    await store.close();
  }
}
