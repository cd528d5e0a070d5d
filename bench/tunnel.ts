// Benchmark: what a connector's tunnel costs, measured against the same work done directly in the
// same run:
// - an LdapSource sync of N users (default 100,000) from a real slapd through a real agent (mdmops
//   serve's gateway, mdmops connector agent, the server's socket), against the very same sync with a
//   socket of its own to slapd; goal: within 1.3x, and the agent's peak RSS under 150 MB;
// - one bulk stream through the tunnel, against plain loopback TCP to the same sink.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { localTunnels } from '../src/connector/local.js';
import { generatedUsers, startSlapd } from '../test/servers/slapd.js';
import { startConnectorWorld } from './connector-world.js';
import { doc, syncInChild, workspace, type Measured } from './source-workspace.js';
import { PAGE, time, USERS } from './sync-common.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BULK_BYTES = Number(process.env.BENCH_BULK_MIB ?? 512) << 20;

const slapd = await startSlapd();
const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-tunnel-'));
try {
  const users = generatedUsers(USERS);
  for (let i = 0; i < USERS; i += 20_000) await slapd.addUsers(users.slice(i, i + 20_000));
  for (let g = 0; g < 20; g++) await slapd.addGroup(`team-${g}`, users.filter((_, i) => i % 20 === g).map((u) => u.uid));
  const ldapSpec = { connectorRef: { name: 'dc' }, url: slapd.url };
  const config =
    doc('Connector', 'dc', 'hosting: OnPremises') +
    doc('LdapSource', 'corp', `connectorRef: { name: dc }\nurl: ${slapd.url}\ninsecure: true\nbindDn: "${slapd.bindDn}"\nbindPasswordSecretRef: { name: corp, key: password }\nbaseDn: "${slapd.baseDn}"\npageSize: ${PAGE}`);
  mkdirSync(join(dir, 'secrets', 'corp'), { recursive: true });
  writeFileSync(join(dir, 'secrets', 'corp', 'password'), slapd.bindPassword);
  const { engine } = await workspace(dir, config);
  await engine.store.close();
  const world = await startConnectorWorld(dir);
  try {
    console.log(`LdapSource: ${USERS.toLocaleString('en-US')} users in 20 groups, page size ${PAGE}; best of ${RUNS} runs each, taken in turn`);
    const direct: Measured[] = [];
    const tunnelled: Measured[] = [];
    for (let run = 0; run < RUNS; run++) {
      for (const [results, env] of [[direct, { BENCH_DIRECT: '1' }], [tunnelled, { BENCH_TUNNEL_SOCKET: world.socket }]] as const) {
        const copy = `${dir}-run`;
        cpSync(dir, copy, { recursive: true, filter: (path) => !path.endsWith('.sock') && !path.includes('/agent') });
        try {
          results.push(syncInChild(copy, 'LdapSource', 'corp', 'first', env));
        } finally {
          rmSync(copy, { recursive: true, force: true });
        }
      }
    }
    const best = (runs: Measured[]) => Math.min(...runs.map((r) => r.ms));
    const [floor, through] = [best(direct), best(tunnelled)];
    console.log(`  floor (the same sync, a socket of its own): ${floor.toFixed(0)} ms (runs: ${direct.map((r) => r.ms.toFixed(0)).join(', ')})`);
    console.log(`  through the agent: ${through.toFixed(0)} ms (runs: ${tunnelled.map((r) => r.ms.toFixed(0)).join(', ')}), ${(through / floor).toFixed(2)}x the floor (goal 1.3x)`);
    console.log(`  the agent's peak RSS: ${world.agentPeakRssMiB().toFixed(0)} MiB (goal: under 150 MB)`);

    // One bulk stream: to a sink that counts, over loopback TCP and through the tunnel.
    const sink = createServer((socket) => {
      let received = 0;
      socket.on('data', (c: Buffer) => (received += c.length));
      socket.on('end', () => socket.end(String(received)));
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    const port = (sink.address() as AddressInfo).port;
    const bulk = (open: () => Promise<Duplex>) =>
      time(async () => {
        const stream = await open();
        const chunk = Buffer.alloc(1 << 20, 7);
        const answer = new Promise<string>((resolve) => {
          let text = '';
          stream.on('data', (c: Buffer) => (text += c.toString()));
          stream.on('end', () => resolve(text));
        });
        for (let sent = 0; sent < BULK_BYTES; sent += chunk.length) if (!stream.write(chunk)) await new Promise((r) => stream.once('drain', r));
        stream.end();
        if (Number(await answer) !== BULK_BYTES) throw new Error('the sink did not receive every byte');
      });
    const tunnels = localTunnels(world.socket);
    const plain = () => new Promise<Duplex>((resolve) => { const s = connect(port, '127.0.0.1', () => resolve(s)); });
    const viaAgent = () => tunnels.dial({ tenant: 'default', connector: 'dc', host: '127.0.0.1', port, resource: { kind: 'LdapSource', name: 'corp', spec: { ...ldapSpec, url: `ldap://127.0.0.1:${port}` } } });
    const plainMs: number[] = [];
    const tunnelMs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      plainMs.push(await bulk(plain));
      tunnelMs.push(await bulk(viaAgent));
    }
    const mibs = (ms: number) => `${((BULK_BYTES / (1 << 20)) / (ms / 1000)).toFixed(0)} MiB/s`;
    console.log(`Bulk stream of ${BULK_BYTES >> 20} MiB:`);
    console.log(`  floor (loopback TCP): ${mibs(Math.min(...plainMs))}`);
    console.log(`  through the tunnel: ${mibs(Math.min(...tunnelMs))}, ${(Math.min(...tunnelMs) / Math.min(...plainMs)).toFixed(2)}x the floor's time`);
    console.log(`  the agent's peak RSS after it: ${world.agentPeakRssMiB().toFixed(0)} MiB`);
    sink.close();
  } finally {
    await world.stop();
  }
} finally {
  await slapd.stop();
  rmSync(dir, { recursive: true, force: true });
}
