// bench:console: the web console's pages with 10,000 resources (the corpus of bench:plan, 100
// tenants) and 100,000 users (synced from the Graph emulator by mdmops sync), served by `mdmops
// serve --console-listen`, against `mdmops status -o json` for the same store in the same run.
// Per page: the median and 95th percentile of REQUESTS signed-in requests, and its median's ratio
// to the status command's time (goal: under a tenth).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { startEntra } from '../test/servers/entra.js';
import { freePort } from '../test/servers/ports.js';
import { generate, median } from './corpus.js';
import { timed } from './timed.js';

const USERS = Number(process.env.BENCH_USERS ?? 100_000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20);
const GOAL = 0.1;
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = join(ROOT, 'bin/mdmops.js');

const dir = mkdtempSync(join(tmpdir(), 'mdmops-bench-console-'));
const entra = await startEntra({ users: USERS, groups: 0 });
const cli = (...args: string[]) => timed(dir, [process.execPath, BIN, ...args], { MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile });
const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(xs.length * 0.95) - 1)]!;
let serve: ReturnType<typeof spawn> | undefined;
try {
  const config = join(dir, 'config');
  mkdirSync(config);
  const resources = generate(config, 'ECDSA-P256');
  writeFileSync(join(config, 'source.yaml'), `apiVersion: mdmops.io/v1alpha1\nkind: EntraIdSource\nmetadata: { name: contoso }\nspec:\n${entra.sourceSpec().replace(/^/gm, '  ')}\n  clientSecretRef: { name: entra, key: secret }\n`);
  await cli('apply', '-f', 'config', '--auto-approve');
  await cli('sync', 'EntraIdSource/contoso');

  const statusTimes: number[] = [];
  for (let i = 0; i < 3; i++) statusTimes.push((await cli('status', '-o', 'json')).ms);
  const status = median(statusTimes);

  const port = await freePort();
  serve = spawn(process.execPath, [BIN, 'serve', '--listen', `127.0.0.1:${await freePort()}`, '--interval', '1h', '--console-listen', `127.0.0.1:${port}`], { cwd: dir, stdio: 'ignore' });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${base}/ui/sign-in`).then((r) => r.ok, () => false)) break;
    if (i > 300) throw new Error('the console did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const token = (await cli('console', 'token', '--role', 'read-only', '--name', 'bench')).stdout.trim();
  const cookie = (await fetch(`${base}/ui/sign-in`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' })).headers.get('set-cookie')!.split(';')[0]!;

  console.log(`console: ${resources + 1} resources in 100 tenants and ${USERS.toLocaleString('en-US')} users; mdmops status -o json of the same store: ${status.toFixed(0)} ms (median of 3)`);
  for (const [label, path] of [
    ['overview', '/ui/'],
    ['resources, first page', '/ui/resources'],
    ['resources, filtered (kind, text)', '/ui/resources?kind=Space&q=space-1'],
    ['resources, newest first, page 150', '/ui/resources?sort=updated&page=150'],
    ['one resource', '/ui/resources/tenant-7/CertificateAuthority/issuing-3'],
    ['users, first page', '/ui/users?tenant=default'],
    ['CSV of every resource', '/ui/resources.csv'],
  ] as const) {
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const start = process.hrtime.bigint();
      const res = await fetch(`${base}${path}`, { headers: { cookie } });
      await res.text();
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    const m = median(times);
    console.log(`  ${label}: median ${m.toFixed(0)} ms, p95 ${p95(times).toFixed(0)} ms = ${(m / status).toFixed(3)}x status (goal under ${GOAL}x: ${m / status < GOAL ? 'met' : 'MISSED'})`);
  }
} finally {
  serve?.kill();
  await entra.stop();
  rmSync(dir, { recursive: true, force: true });
}
