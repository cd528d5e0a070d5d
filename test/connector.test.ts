// Connector agents for real: a customer network (a network namespace the test makes) holds a real
// slapd and a real scepserver, which mdmops cannot reach; only the agent runs there too, dialling
// out to the gateway of `mdmops serve` through the one port bridged in. Everything goes through the
// CLI as a user runs it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNetNs, type NetNs } from './servers/netns.js';
import { spawnServer, stopServer } from './servers/process.js';
import { freePort } from './servers/ports.js';
import { startScep, type ScepServer } from './servers/scep.js';
import { generatedUsers, startSlapd, userDn, type SlapdServer } from './servers/slapd.js';
import { startMariadb } from './servers/mariadb.js';
import mysql from 'mysql2/promise';
import { startTinyproxy, type Tinyproxy } from './servers/tinyproxy.js';
import { startAgent, type AgentProcess } from './support/agent.js';
import { startMdmops, type RunningMdmops, type Status } from './support/run.js';
import { mdmopsAsync, ROOT } from './support/cli.js';
import { doc, storedUsers, workspace } from './support/workspace.js';

const USERS = 40;
/** Added before the agent is killed mid-sync: enough that the sync is still reading when it dies. */
const MORE_USERS = 20_000;
const GATEWAY_INSIDE = 8443;
const PROXY_INSIDE = 3128;
const SERVER = `https://127.0.0.1:${GATEWAY_INSIDE}`;

let netns: NetNs;
let slapd: SlapdServer;
let scep: ScepServer;
beforeAll(async () => {
  netns = await startNetNs();
  [slapd, scep] = await Promise.all([startSlapd({ netns }), startScep('in-the-customer-network', { netns })]);
  await slapd.addUsers(generatedUsers(USERS));
  await slapd.addGroup('vpn-users', ['user1', 'user2']);
});
afterAll(async () => {
  await Promise.all([slapd?.stop(), scep?.stop()]);
  await netns?.stop();
});

const openssl = (...args: string[]) => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const reachable = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
/** Does `what` again until `done` says so (at most 20 s), and returns the result. */
async function until<T>(what: string, attempt: () => T, done: (result: T) => boolean): Promise<T> {
  for (const deadline = Date.now() + 20_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const result = attempt();
    if (done(result)) return result;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}; last: ${JSON.stringify(result).slice(0, 1000)}`);
  }
}
const ready = (s: Status, resource: string) => s.resources.find((r: { resource: string }) => r.resource === resource);

describe('a connector agent in the customer network', () => {
  const ws = workspace();
  const env = { MDMOPS_SECRET_CORP_LDAP__PASSWORD: 'set in beforeAll', MDMOPS_SECRET_SCEP__CHALLENGE: 'in-the-customer-network' };
  let gatewayPort: number;
  let serve: RunningMdmops;
  let agent: AgentProcess;
  const agentDir = () => join(ws.dir, 'agent');
  const connector = (extra = '') => doc('Connector', 'dc', `hosting: OnPremises${extra}`);
  const config = (certificates = true) =>
    doc(
      'LdapSource',
      'corp',
      `connectorRef: { name: dc }
url: ${slapd.url}
startTls: true
tls: { caCertificates: { file: ldap-ca.pem }, serverName: localhost }
bindDn: "${slapd.bindDn}"
bindPasswordSecretRef: { name: corp-ldap, key: password }
baseDn: "${slapd.baseDn}"
attributeMapping: { userPrincipalName: mail }`,
    ) +
    doc('CertificateAuthority', 'scep', `type: ScepOnPremises\nurl: ${scep.url}\nconnectorRef: { name: dc }\nchallengeSecretRef: { name: scep, key: challenge }\ncaFingerprint: "${scep.caFingerprint}"`) +
    (certificates ? doc('CertificateConfiguration', 'wifi', 'identity:\n  certificateAuthorityRef: { name: scep }\n  subject: CN=${userUPN},O=Contoso\ndistribution: { devices: AllDevices }') : '');
  const run = (args: string[]) => ws.run(args, env);
  const startServe = async () => {
    serve = await startMdmops('serve', ws.dir, ['--gateway-listen', `127.0.0.1:${gatewayPort}`, '--connector-heartbeat', '2s', '--interval', '1h'], env);
    await serve.waitFor('the gateway', () => serve.output().includes('connector gateway listening'));
  };
  const users = () => storedUsers(ws);

  beforeAll(async () => {
    env.MDMOPS_SECRET_CORP_LDAP__PASSWORD = slapd.bindPassword;
    gatewayPort = await freePort();
    await netns.bridgeOut(GATEWAY_INSIDE, gatewayPort);
  });
  afterAll(() => serve?.stop('SIGKILL'));

  it('cannot be gone around: the directory and the CA are out of reach but through the agent', async () => {
    expect(await reachable(slapd.url)).toBe(false);
    expect(await reachable(scep.url)).toBe(false);
    expect(await netns.listening(Number(new URL(slapd.url).port))).toBe(true);
  });

  it('enrols with a one-time token, then carries the LDAP sync and the SCEP enrolments', async () => {
    ws.write('config/ldap-ca.pem', slapd.caPem);
    ws.write('config/tenant.yaml', connector() + config());
    expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    // No server holds a tunnel yet: the one-shot command says what to start.
    const alone = run(['sync', 'LdapSource/corp']);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('Connector/dc, which reaches the directory, is not Ready (AgentNotConnected');

    expect(run(['connector', 'token', 'Connector/dc']).stderr).toContain('no connector gateway has run on this store yet');
    await startServe();
    expect(ready(await serve.status(), 'LdapSource/corp')).toMatchObject({ ready: 'False', reason: 'ConnectorNotReady' });
    const made = run(['connector', 'token', 'Connector/dc']);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toMatch(/^mdmops-connector-token\.[\w-]+\n$/);
    const tokenFile = ws.write('token', made.stdout);

    agent = startAgent(netns, ['--server', SERVER, '--token-file', tokenFile, '--state-dir', agentDir()]);
    await agent.waitForLine(/enrolled as Connector\/dc/);
    await serve.waitFor('Connector/dc Ready', (s) => ready(s, 'Connector/dc')?.ready === 'True');
    // What waited on the connector says at once that it waits no more, with no apply.
    await serve.waitFor('LdapSource/corp Ready with its connector', (s) => ready(s, 'LdapSource/corp')?.ready === 'True');
    const status = JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status;
    expect(status).toMatchObject({ connected: true, hostname: expect.any(String), version: expect.any(String), effectiveLogLevel: 'Info' });
    expect(Date.parse(status.certificateNotAfter)).toBeGreaterThan(Date.now());
    // The key never left the agent: the store holds no agent key, the agent's folder keeps it to itself.
    expect(execFileSync('stat', ['-c', '%a', join(agentDir(), 'key.pem')], { encoding: 'utf8' }).trim()).toBe('600');

    const synced = run(['sync', 'LdapSource/corp']);
    expect(synced.code, synced.stderr).toBe(0);
    expect(synced.stdout).toContain(`LdapSource/corp: ${USERS} users (${USERS} added, 0 changed, 0 removed)`);
    expect((await users()).find((u) => u.id.endsWith('/user2'))?.groups).toEqual(['vpn-users']);

    // SCEP: the CA is checked and every user enrolled through the same tunnel. A user left waiting
    // (scepserver's file depot turns down an odd request when many come at once, directly as well
    // as through the tunnel) is enrolled at the next apply, as the product does for any user left waiting.
    const applied = run(['apply', '-f', 'config', '--auto-approve']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const wifi = () => JSON.parse(run(['status', 'CertificateConfiguration/wifi', '-o', 'json']).stdout).status;
    for (let again = 0; again < 3 && wifi().waitingCount > 0; again++) run(['apply', '-f', 'config', '--auto-approve']);
    const ca = JSON.parse(run(['status', 'CertificateAuthority/scep', '-o', 'json']).stdout).status;
    expect(ca.fingerprintSha256).toBe(scep.caFingerprint);
    expect(wifi(), run(['notifications']).stdout).toMatchObject({ issuedCount: USERS, waitingCount: 0 });
    const upn = (await users())[0]!.upn;
    const exported = ws.run(['certificates', 'wifi', '--export', upn, '--out', 'one.p12'], { MDMOPS_EXPORT_PASSWORD: 'pw' });
    expect(exported.code, exported.stderr).toBe(0);
    const leaf = ws.write('one.pem', openssl('pkcs12', '-in', join(ws.dir, 'one.p12'), '-passin', 'pass:pw', '-clcerts', '-nokeys'));
    expect(openssl('verify', '-CAfile', ws.write('scep-ca.pem', scep.caPem), leaf)).toContain('OK');
    // Secrets travel, never show.
    expect(serve.output() + agent.output() + applied.stdout + synced.stdout).not.toContain(slapd.bindPassword);
    expect(serve.output() + agent.output()).not.toContain(made.stdout.trim());
  });

  it('carries SQL provisioning to a database in the customer network, which cannot be reached but through the agent', async () => {
    const db = await startMariadb({ netns });
    const app = await mysql.createConnection({ socketPath: db.socket, user: 'root', password: decodeURIComponent(new URL(db.url).password), database: 'app' });
    try {
      await app.query('CREATE TABLE users (employee_id VARCHAR(64) PRIMARY KEY, upn VARCHAR(200), email VARCHAR(200))');
      // In the secrets folder, where the running server reads it too (its gateway lets the agent dial only what resources name).
      ws.write('.mdmops/secrets/hr/url', db.url);
      const provisioning = (name: string, connector: string) =>
        doc(
          'SqlProvisioning',
          name,
          `managementAgentExport: { file: hr.xml }
connection: { driver: MySQL, urlSecretRef: { name: hr, key: url } }
${connector}anchor: { column: employee_id }
attributeMapping:
  - { attribute: UserPrincipalName, column: upn, from: userUPN }
  - { attribute: Mail, column: email, from: userEmailAddress }
sourceRef: { kind: LdapSource, name: corp }
deletionPolicy: Orphan`,
        );
      ws.write('config/hr.xml', readFileSync(join(ROOT, 'examples/tenant/sql/hr-gsql-export.xml'), 'utf8'));
      ws.write('config/sql.yaml', provisioning('hr', 'connectorRef: { name: dc }\n') + provisioning('hr-direct', ''));
      const applied = run(['apply', '-f', 'config', '--auto-approve']);
      expect(applied.code, applied.stdout + applied.stderr).toBe(0);
      const [rows] = await app.query<mysql.RowDataPacket[]>('SELECT employee_id, upn FROM users ORDER BY employee_id');
      expect(rows).toHaveLength(USERS);
      expect(rows.find((r) => r.employee_id === 'user2')?.upn).toBe((await users()).find((u) => u.id.endsWith('/user2'))!.upn);
      // Named without the connector, the same database is out of reach from here.
      const direct = JSON.parse(run(['status', 'SqlProvisioning/hr-direct', '-o', 'json']).stdout).status;
      expect(direct.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'SqlServerUnreachable' });
      // A user changed in the directory reaches the table through the sync that follows the source's.
      await slapd.modify(`dn: ${userDn('user3')}\nchangetype: modify\nreplace: mail\nmail: renamed.user3@example.com\n`);
      const synced = run(['sync', 'LdapSource/corp']);
      expect(synced.stdout).toContain(`SqlProvisioning/hr: ${USERS} rows (0 inserted, 1 updated, 0 deprovisioned)`);
      const [[three]] = (await app.query<mysql.RowDataPacket[]>("SELECT upn FROM users WHERE employee_id = 'user3'")) as unknown as [mysql.RowDataPacket[]];
      expect(three!.upn).toBe('renamed.user3@example.com');
      expect(serve.output() + agent.output() + applied.stdout + applied.stderr + synced.stdout + synced.stderr).not.toContain(db.url);
    } finally {
      ws.remove('config/sql.yaml');
      run(['apply', '-f', 'config', '--auto-approve']);
      await app.end();
      await db.stop();
    }
  });

  it('refuses a token used already, expired, or altered for another tenant, and says so on both sides', async () => {
    const used = startAgent(netns, ['--server', SERVER, '--token-file', join(ws.dir, 'token'), '--state-dir', join(ws.dir, 'agent-2')]);
    expect(await used.exited).toBe(1);
    expect(used.output()).toContain('this token of Connector/dc of tenant default was used already');
    expect(serve.output()).toContain("refused an agent's enrolment: this token of Connector/dc of tenant default was used already");

    const short = ws.write('short-token', run(['connector', 'token', 'Connector/dc', '--ttl', '1s']).stdout);
    await new Promise((r) => setTimeout(r, 1100));
    const late = startAgent(netns, ['--server', SERVER, '--token-file', short, '--state-dir', join(ws.dir, 'agent-3')]);
    expect(await late.exited).toBe(1);
    expect(late.output()).toMatch(/this token of Connector\/dc of tenant default expired at/);

    const fresh = run(['connector', 'token', 'Connector/dc']).stdout.trim();
    const body = JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString());
    const forged = ws.write('forged-token', `mdmops-connector-token.${Buffer.from(JSON.stringify({ ...body, t: 'other' })).toString('base64url')}`);
    const other = startAgent(netns, ['--server', SERVER, '--token-file', forged, '--state-dir', join(ws.dir, 'agent-4')]);
    expect(await other.exited).toBe(1);
    expect(other.output()).toContain('Connector/dc of tenant other does not exist');
    // The enrolled agent was never disturbed.
    expect(ready(await serve.status(), 'Connector/dc')?.ready).toBe('True');
  });

  it('refuses a connection to a destination no resource names', async () => {
    const refused = await new Promise<string>((resolve) => {
      const request = { tenant: 'default', connector: 'dc', host: '127.0.0.1', port: 22, resource: { kind: 'LdapSource', name: 'corp', spec: { connectorRef: { name: 'dc' }, url: slapd.url } } };
      const socket = connect(join(ws.dir, '.mdmops/connectors.sock'));
      let answer = '';
      socket.on('data', (c) => (answer += c.toString()));
      socket.on('close', () => resolve(answer));
      socket.write(`CONNECT 127.0.0.1:22 HTTP/1.1\r\nhost: 127.0.0.1:22\r\nx-mdmops-route: ${Buffer.from(JSON.stringify(request)).toString('base64')}\r\n\r\n`);
    });
    expect(refused).toMatch(/^HTTP\/1.1 502/);
    expect(refused).toContain('LdapSource/corp does not name 127.0.0.1:22 through Connector/dc: refused');
    expect(serve.output()).toContain('refused a connection to 127.0.0.1:22: no resource names it through Connector/dc');
  });

  it('carries a sync while another stream through the same tunnel is not read', async () => {
    // A server in the customer network that sends without end, and a client of it that reads nothing:
    // HTTP/2's flow control holds that stream back, and the tunnel's other streams go on.
    const ENDLESS = 7390;
    const endless = spawnServer(...netns.wrap('socat', [`TCP-LISTEN:${ENDLESS},bind=127.0.0.1,fork,reuseaddr`, 'OPEN:/dev/zero']), ws.dir, 'SIGKILL');
    let client: ReturnType<typeof connect> | undefined;
    try {
      for (let i = 0; !(await netns.listening(ENDLESS)); i++) {
        if (i > 200) throw new Error('socat did not listen in the customer network');
        await new Promise((r) => setTimeout(r, 20));
      }
      const url = `ldap://127.0.0.1:${ENDLESS}`;
      const request = { tenant: 'default', connector: 'dc', host: '127.0.0.1', port: ENDLESS, resource: { kind: 'LdapSource', name: 'endless', spec: { connectorRef: { name: 'dc' }, url } } };
      let received = 0;
      client = connect(join(ws.dir, '.mdmops/connectors.sock'));
      await new Promise<void>((resolve) => {
        client!.on('data', (c: Buffer) => {
          received += c.length;
          // Past the answer and the first zeros, it stops reading.
          if (received > 64 * 1024) (client!.pause(), resolve());
        });
        client!.write(`CONNECT 127.0.0.1:${ENDLESS} HTTP/1.1\r\nhost: 127.0.0.1:${ENDLESS}\r\nx-mdmops-route: ${Buffer.from(JSON.stringify(request)).toString('base64')}\r\n\r\n`);
      });
      const synced = run(['sync', 'LdapSource/corp']);
      expect(synced.code, synced.stderr).toBe(0);
      expect(synced.stdout).toContain(`LdapSource/corp: ${USERS} users`);
      expect(agent.child.exitCode).toBeNull();
    } finally {
      client?.destroy();
      await stopServer(endless, 1000);
    }
  });

  it('loses no user when the agent dies mid-sync, says the connector is unreachable, and recovers when it is back', async () => {
    await slapd.addUsers(generatedUsers(USERS + MORE_USERS).slice(USERS));
    await slapd.modify(`dn: uid=user1,ou=people,${slapd.baseDn}\nchangetype: modify\nreplace: cn\ncn: Renamed One\n`);
    // At Debug the agent logs each connection it opens: it is killed as the sync's first one opens.
    // (No identity certificates from here on: enrolling 20,000 users over SCEP is not what this tests.)
    ws.write('config/tenant.yaml', connector(`\nlogLevel: Debug\nlogLevelSince: "${new Date().toISOString()}"`) + config(false));
    expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    await agent.waitForLine(/log level Debug/);
    const syncing = mdmopsAsync(['sync', 'LdapSource/corp'], { cwd: ws.dir, env });
    const opened = await Promise.race([agent.waitForLine(/connected to 127\.0\.0\.1:\d+/), syncing]);
    expect(typeof opened, `the sync ended before the agent opened a connection: ${JSON.stringify(opened)}`).toBe('string');
    await agent.stop('SIGKILL');
    const sync = await syncing;
    expect(sync.code).toBe(1);
    expect(sync.stdout + sync.stderr).toMatch(/nothing was changed|changed nothing|no user/i);
    expect(await users()).toHaveLength(USERS);
    expect((await users()).find((u) => u.id.endsWith('/user1'))?.displayName).not.toBe('Renamed One');
    await serve.waitFor('Connector/dc unreachable', (s) => ready(s, 'Connector/dc')?.reason === 'AgentUnreachable');
    await serve.waitFor('LdapSource/corp waiting on it', (s) => ready(s, 'LdapSource/corp')?.reason === 'ConnectorNotReady');
    expect(run(['notifications']).stdout).toMatch(/Connector\/dc\s+ConnectorUnreachable/);
    const waiting = run(['sync', 'LdapSource/corp']);
    expect(waiting.code).toBe(1);
    expect(waiting.stderr).toContain('Connector/dc, which reaches the directory, is not Ready (AgentUnreachable');

    // Back, with no token: its certificate is enough.
    agent = startAgent(netns, ['--server', SERVER, '--state-dir', agentDir()]);
    await serve.waitFor('Connector/dc Ready again', (s) => ready(s, 'Connector/dc')?.ready === 'True');
    await serve.waitFor('LdapSource/corp Ready again', (s) => ready(s, 'LdapSource/corp')?.ready === 'True');
    expect(run(['notifications']).stdout).not.toMatch(/Connector\/dc\s+ConnectorUnreachable/);
    const again = run(['sync', 'LdapSource/corp']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`(${MORE_USERS} added, 1 changed, 0 removed)`);
  });

  it('reconnects by itself when the gateway restarts', async () => {
    await serve.stop();
    await startServe();
    await serve.waitFor('Connector/dc Ready after the restart', (s) => ready(s, 'Connector/dc')?.ready === 'True');
    expect(agent.child.exitCode).toBeNull();
    expect(run(['sync', 'LdapSource/corp']).code).toBe(0);
  });

  it('says the connector is unreachable when its agent falls silent with the connection still open, and Ready once it speaks again', async () => {
    agent.child.kill('SIGSTOP');
    try {
      await serve.waitFor('Connector/dc unreachable', (s) => ready(s, 'Connector/dc')?.reason === 'AgentUnreachable');
      await serve.waitFor('the reason in the log', () => /the agent of Connector\/dc is gone: no heartbeat for \d+ s/.test(serve.output()));
    } finally {
      agent.child.kill('SIGCONT');
    }
    await serve.waitFor('Connector/dc Ready again', (s) => ready(s, 'Connector/dc')?.ready === 'True');
    expect(run(['sync', 'LdapSource/corp']).code).toBe(0);
  });

  it('keeps a disabled connector connected, carrying no traffic', async () => {
    ws.write('config/tenant.yaml', connector('\nenabled: false') + config(false));
    run(['apply', '-f', 'config', '--auto-approve']);
    const status = JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status;
    expect(status.connected).toBe(true);
    expect(status.conditions.find((c: { type: string }) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Disabled' });
    const sync = run(['sync', 'LdapSource/corp']);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain('Connector/dc, which reaches the directory, is not Ready (Disabled');
    ws.write('config/tenant.yaml', connector() + config(false));
    run(['apply', '-f', 'config', '--auto-approve']);
    const synced = run(['sync', 'LdapSource/corp']);
    expect(synced.code, synced.stderr).toBe(0);
  });

  it('raises its log level at once with mdmops connector log-level, on a store no repository manages', async () => {
    const raised = run(['connector', 'log-level', 'Connector/dc', 'debug']);
    expect(raised.code, raised.stderr).toBe(0);
    expect(raised.stdout).toMatch(/^logLevel: Debug\nlogLevelSince: "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\n$/);
    // The running server hands it to the agent before the command returns, without waiting for a heartbeat.
    expect(raised.stderr).toContain('changed in the tenant store; the agent runs at it now');
    await agent.waitForLine(/"msg":"log level Debug"/);
    const status = await until('the Debug level in status', () => JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status, (st) => st.effectiveLogLevel === 'Debug');
    expect(Date.parse(status.logLevelRevertsAt) - Date.parse(raised.stdout.split('"')[1]!)).toBe(3_600_000);
    expect(run(['connector', 'log-level', 'Connector/dc', 'Info']).stdout).toBe('logLevel: Info\n');
  });

  it('collects its logs into one zip on request, downloads it, and leaves none when a request is cancelled', async () => {
    const asked = run(['connector', 'logs', 'Connector/dc', '--request']);
    expect(asked.code, asked.stderr).toBe(0);
    const name = /^(\S+_\S+_\d{8}-\d{6}\.zip) \(\d+ bytes\) is ready/.exec(asked.stdout)?.[1];
    expect(name, asked.stdout).toBeDefined();
    expect(name!.startsWith(`${JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status.hostname}_`)).toBe(true);
    const saved = run(['connector', 'logs', 'Connector/dc', '--download', '--output-dir', 'downloaded']);
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout.trim()).toBe(join('downloaded', name!));
    expect(execFileSync('unzip', ['-l', join(ws.dir, 'downloaded', name!)], { encoding: 'utf8' })).toContain('kocab.log');
    expect(JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status.logCollection).toMatchObject({ state: 'ready', file: name });

    // Enough to zip that a cancel comes while it is under way.
    writeFileSync(join(agentDir(), 'logs', 'kocab.2026-01-01.0.log.gz'), randomBytes(64 << 20));
    const requesting = mdmopsAsync(['connector', 'logs', 'Connector/dc', '--request'], { cwd: ws.dir, env });
    const cancel = await until('a collection under way to cancel', () => run(['connector', 'logs', 'Connector/dc', '--cancel']), (c) => c.stdout.includes('being cancelled'));
    expect(cancel.stdout).toContain('being cancelled');
    const cancelled = await requesting;
    expect(cancelled.code).toBe(1);
    expect(cancelled.stderr).toContain('the log collection cancelled');
    // No zip is left, the one before is gone too (as the product does); the agent's own logs stay.
    expect(readdirSync(join(agentDir(), 'collected')).filter((f) => f.endsWith('.zip'))).toEqual([]);
    expect(readdirSync(join(agentDir(), 'logs'))).toContain('kocab.log');
    expect(run(['connector', 'logs', 'Connector/dc', '--download']).stderr).toContain('has no collected logs (the last request is cancelled)');
    rmSync(join(agentDir(), 'logs', 'kocab.2026-01-01.0.log.gz'));
  });

  describe('through an HTTP proxy (tinyproxy)', () => {
    let proxy: Tinyproxy;
    beforeAll(async () => {
      proxy = await startTinyproxy({ user: 'agent', password: 'Pr0xy-s3cret' });
      await netns.bridgeOut(PROXY_INSIDE, proxy.port);
    });
    afterAll(() => proxy?.stop());

    // The gateway's own address, which only the proxy can reach from inside.
    const server = () => `https://127.0.0.1:${gatewayPort}`;
    const proxyAgentDir = () => join(ws.dir, 'agent-proxy');

    it('enrols and connects through it with the right credentials, and says why not with wrong ones', async () => {
      const token = ws.write('proxy-token', run(['connector', 'token', 'Connector/dc']).stdout);
      const wrong = startAgent(netns, ['--server', server(), '--token-file', token, '--state-dir', proxyAgentDir(), '--proxy', `http://agent:wrong@127.0.0.1:${PROXY_INSIDE}`]);
      expect(await wrong.exited).toBe(1);
      expect(wrong.output()).toContain('refused the credentials');
      await agent.stop();
      agent = startAgent(netns, ['--server', server(), '--token-file', token, '--state-dir', proxyAgentDir(), '--proxy', `http://agent:Pr0xy-s3cret@127.0.0.1:${PROXY_INSIDE}`]);
      await agent.waitForLine(/connected to the gateway/);
      await serve.waitFor('Connector/dc Ready through the proxy', (s) => ready(s, 'Connector/dc')?.ready === 'True');
      expect(run(['sync', 'LdapSource/corp']).code).toBe(0);
      expect(agent.output() + wrong.output()).not.toContain('Pr0xy-s3cret');
    });

    it("takes its proxy from the Connector's httpProxy, and says in status when that one refuses it", async () => {
      const credentials = (value: string) => ws.write('.mdmops/secrets/proxy/credentials', value);
      const settings = () => readFileSync(join(proxyAgentDir(), 'settings.json'), 'utf8');
      credentials('agent:wrong');
      ws.write('config/tenant.yaml', connector(`\nhttpProxy: { url: "http://127.0.0.1:${PROXY_INSIDE}", credentialsSecretRef: { name: proxy, key: credentials } }`) + config(false));
      expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
      await until('the proxy in the agent\'s settings', settings, (text) => text.includes(`127.0.0.1:${PROXY_INSIDE}`));
      // Back after a gateway restart: the Connector's proxy refuses it, --proxy lets it through, and status says why.
      await serve.stop();
      await startServe();
      await serve.waitFor('Connector/dc Ready again', (s) => ready(s, 'Connector/dc')?.ready === 'True');
      expect(JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status.lastError).toContain('refused the credentials');
      expect(agent.output()).toMatch(/cannot reach the gateway through http:\/\/127\.0\.0\.1:3128: .*refused the credentials/);

      // Right credentials in the Connector's secret: an agent started without --proxy comes in through it.
      credentials('agent:Pr0xy-s3cret');
      await until('the new credentials in the agent\'s settings', settings, (text) => text.includes('Pr0xy-s3cret'));
      await agent.stop();
      agent = startAgent(netns, ['--server', server(), '--state-dir', proxyAgentDir()]);
      await agent.waitForLine(/connected to the gateway/);
      await serve.waitFor('Connector/dc Ready through its own proxy', (s) => ready(s, 'Connector/dc')?.ready === 'True');
      expect(JSON.parse(run(['status', 'Connector/dc', '-o', 'json']).stdout).status.lastError).toBeUndefined();
      expect(serve.output() + agent.output()).not.toContain('Pr0xy-s3cret');
    });

    it("goes straight to a gateway that its Connector's noProxy names", async () => {
      await agent.stop();
      // A proxy that does not answer: only noProxy lets the agent in.
      ws.write('config/tenant.yaml', connector('\nhttpProxy: { url: "http://127.0.0.1:9", noProxy: ["127.0.0.1"] }') + config(false));
      expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
      const dir = join(ws.dir, 'agent-no-proxy');
      agent = startAgent(netns, ['--server', SERVER, '--token-file', ws.write('no-proxy-token', run(['connector', 'token', 'Connector/dc']).stdout), '--state-dir', dir]);
      const settings = () => (existsSync(join(dir, 'settings.json')) ? readFileSync(join(dir, 'settings.json'), 'utf8') : '');
      await until("the proxy and its exception in the agent's settings", settings, (text) => text.includes('127.0.0.1:9') && text.includes('noProxy'));
      // Back after a gateway restart, by its settings alone.
      await serve.stop();
      await startServe();
      await serve.waitFor('Connector/dc Ready, not through the proxy', (s) => ready(s, 'Connector/dc')?.ready === 'True');
      expect(agent.output()).not.toContain('through http://127.0.0.1:9');
    });

    it('revokes the agent when its Connector is deleted, and refuses its tokens', async () => {
      const token = ws.write('last-token', run(['connector', 'token', 'Connector/dc']).stdout);
      ws.write('config/tenant.yaml', '');
      const pruned = run(['apply', '-f', 'config', '--auto-approve']);
      expect(pruned.code, pruned.stdout + pruned.stderr).toBe(0);
      await agent.waitForLine(/the gateway refused this agent: .*Connector\/dc of tenant default does not exist any more/, 45_000);
      const late = startAgent(netns, ['--server', SERVER, '--token-file', token, '--state-dir', join(ws.dir, 'agent-5')]);
      expect(await late.exited).toBe(1);
      expect(late.output()).toContain('Connector/dc of tenant default does not exist (was it deleted?): its tokens are void');
      expect(serve.output()).toContain("refused an agent's enrolment: Connector/dc of tenant default does not exist (was it deleted?)");

      // Made again, the Connector takes an agent that was enrolled before, started with a new token.
      ws.write('config/tenant.yaml', connector());
      expect(run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
      const again = startAgent(netns, ['--server', SERVER, '--token-file', ws.write('new-token', run(['connector', 'token', 'Connector/dc']).stdout), '--state-dir', agentDir()]);
      await again.waitForLine(/enrolling again with the one in --token-file/);
      await serve.waitFor('Connector/dc Ready with the agent enrolled again', (s) => ready(s, 'Connector/dc')?.ready === 'True');
      await again.stop();
      // Started again with the same token, it does not try to use it twice.
      const restarted = startAgent(netns, ['--server', SERVER, '--token-file', join(ws.dir, 'new-token'), '--state-dir', agentDir()]);
      await restarted.waitForLine(/connected to the gateway/);
      expect(restarted.output()).toContain('--token-file is not needed any more');
      await restarted.stop();
    });
  });
});
