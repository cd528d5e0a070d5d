// The measured side of bench/sync.ts, in a process of its own that loads only what `mdmops sync`
// loads: `sync DIR KIND NAME first|next` syncs a source once and prints the time and peak RSS as JSON;
// `graph-floor URL TOKEN SELECT` fetches the same Graph delta pages with plain fetch; `ldapts URL
// BIND_DN PASSWORD BASE ATTRIBUTES` runs the LDAP floor's searches with ldapts and nothing else.
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { localTunnels } from '../src/connector/local.js';
import type { Tunnels } from '../src/net/dial.js';
import { Client } from 'ldapts';
import { join } from 'node:path';
import { providerContext, type Engine } from '../src/engine/context.js';
import type { SyncReport } from '../src/engine/provider.js';
import { StandaloneSecrets } from '../src/config/secrets.js';
import { defaultProviders } from '../src/providers/index.js';
import { parseKey } from '../src/store/master-key.js';
import { openStore, parseStoreSpec } from '../src/store/open.js';
import { PAGE, time, USERS } from './sync-common.js';



/** The Graph floor: the same delta pages fetched with node's fetch and parsed, nothing else. */
async function graphFloor(base: string, token: string, select: string) {
  const headers = { authorization: `Bearer ${token}`, prefer: `odata.maxpagesize=${PAGE}` };
  const ms = await time(async () => {
    for (let url of [`${base}/v1.0/users/delta?$select=${select}`, `${base}/v1.0/groups/delta?$select=displayName,members`]) {
      for (;;) {
        const page = (await (await fetch(url, { headers })).json()) as Record<string, unknown>;
        if (typeof page['@odata.nextLink'] !== 'string') break;
        url = page['@odata.nextLink'];
      }
    }
  });
  process.stdout.write(JSON.stringify(ms));
}

/** The LDAP floor's two paged searches with the library alone (on a connection each, at once, as the sync does). */
async function ldaptsAlone(url: string, bindDn: string, password: string, base: string, attributes: string) {
  const search = async (filter: string, attrs: string[]) => {
    const client = new Client({ url });
    await client.bind(bindDn, password);
    for await (const _page of client.searchPaginated(base, { scope: 'sub', filter, attributes: attrs, paged: { pageSize: PAGE } }));
    await client.unbind();
  };
  const ms = await time(() => Promise.all([search('(objectClass=groupOfNames)', ['cn', 'member']), search('(objectClass=inetOrgPerson)', attributes.split(','))]));
  process.stdout.write(JSON.stringify({ ms, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

/**
 * How the sync reaches a connector's servers: BENCH_TUNNEL_SOCKET, the server holding the agent's
 * tunnel (as `mdmops sync` does); or BENCH_DIRECT=1, a socket of its own (the floor of bench/tunnel).
 */
function tunnels(): Tunnels | undefined {
  if (process.env.BENCH_DIRECT === '1') return { dial: (r) => new Promise((resolve, reject) => { const s = connect(r.port, r.host, () => resolve(s)); s.once('error', reject); }) };
  return process.env.BENCH_TUNNEL_SOCKET ? localTunnels(process.env.BENCH_TUNNEL_SOCKET) : undefined;
}

/** One sync round: the first writes every user; the next must change nothing. */
async function child(dir: string, kind: string, name: string, round: string) {
  const engine: Engine = { store: await openStore(parseStoreSpec(`sqlite:${join(dir, 'tenant.db')}`)), key: parseKey(readFileSync(join(dir, 'master.key'), 'utf8'), 'master.key'), providers: defaultProviders(), tunnels: tunnels() };
  const secrets = new StandaloneSecrets(join(dir, 'secrets'));
  const record = (await engine.store.getRecord({ tenant: 'default', kind, name }))!;
  let report: SyncReport | undefined;
  const ms = await time(async () => {
    report = await engine.providers.get(kind).sync!(providerContext(engine), secrets, record, { actor: 'bench', allowMassDelete: true });
  });
  if (report!.error || report!.blocked) throw new Error(report!.error ?? report!.blocked);
  if (round === 'first' && report!.added !== USERS) throw new Error(`expected ${USERS} users added, got ${report!.added}`);
  if (round === 'next' && report!.added + report!.updated + report!.removed) throw new Error('the next sync changed users');
  await engine.store.close();
  process.stdout.write(JSON.stringify({ ms, peakRssMiB: process.resourceUsage().maxRSS / 1024 }));
}

if (process.argv[2] === 'sync') await child(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6]!);
else if (process.argv[2] === 'graph-floor') await graphFloor(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else if (process.argv[2] === 'ldapts') await ldaptsAlone(process.argv[3]!, process.argv[4]!, process.argv[5]!, process.argv[6]!, process.argv[7]!);
else throw new Error('usage: sync-child.js sync DIR KIND NAME first|next | graph-floor URL TOKEN SELECT | ldapts URL BIND_DN PASSWORD BASE ATTRIBUTES');
