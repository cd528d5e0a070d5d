// What a connector agent does as its own clock turns, with a clock the test moves: a raised log level
// goes back to Info one hour after logLevelSince (and the reconciler does not fight it), and the
// agent's certificate is renewed over the tunnel before it ends. The agent runs in this process
// (that is how the test owns its clock), against a real `mdmops serve`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { VERSION } from '../src/cli/package-info.js';
import { Agent } from '../src/connector/agent.js';
import { createLogger } from '../src/observe/log.js';
import { freePort } from './servers/ports.js';
import { startMdmops, type RunningMdmops, type Status } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const HOUR = 3_600_000;
/** This agent says it is older than the server: the connector is reported outdated. */
const OLDER = VERSION.replace(/^(\d+)\.(\d+)\.\d+.*$/, (_, major: string, minor: string) => (Number(minor) > 0 ? `${major}.${Number(minor) - 1}.99` : `${Number(major) - 1}.99.99`));
const DAY = 24 * HOUR;

describe('a connector agent on its own clock', () => {
  const ws = workspace();
  const since = new Date(Date.now() - 10 * 60_000);
  let clock = Date.now();
  let lines = '';
  const log = createLogger({ level: 'info', destination: new Writable({ write: (chunk: Buffer, _e, done) => ((lines += chunk.toString()), done()) }) });
  let stop = new AbortController();
  let running: Promise<void> | undefined;
  let port: number;
  let serve: RunningMdmops;
  afterAll(async () => {
    stop.abort();
    await running;
    await serve?.stop();
  });
  const startAgent = (tokenFile?: string) => {
    stop = new AbortController();
    const agent = new Agent({ server: `https://127.0.0.1:${port}`, tokenFile, stateDir: join(ws.dir, 'agent'), logDir: join(ws.dir, 'agent/logs'), hostname: 'aws-agent', version: OLDER, log, now: () => new Date(clock) });
    running = agent.run(stop.signal);
  };
  const status = () => JSON.parse(ws.run(['status', 'Connector/dc', '-o', 'json']).stdout).status;
  const connector = (s: Status) => s.resources.find((r: { resource: string }) => r.resource === 'Connector/dc');

  const startServe = async () => {
    serve = await startMdmops('serve', ws.dir, ['--gateway-listen', `127.0.0.1:${port}`, '--connector-heartbeat', '1s']);
    await serve.waitFor('the gateway', () => serve.output().includes('connector gateway listening'));
  };

  it('goes back to Info an hour after logLevelSince, on its own while disconnected, and the reconciler leaves it be', async () => {
    ws.write('config/dc.yaml', doc('Connector', 'dc', `hosting: AWS\naws: { region: eu-west-1 }\nlogLevel: Debug\nlogLevelSince: "${since.toISOString()}"`));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    port = await freePort();
    await startServe();
    startAgent(ws.write('token', ws.run(['connector', 'token', 'Connector/dc']).stdout));
    await serve.waitFor('Connector/dc Ready', (s) => connector(s)?.ready === 'True');
    await serve.waitFor('the Debug level reported', () => lines.includes('"msg":"log level Debug"'));
    const raised = await waitUntil(() => status(), (s) => s.effectiveLogLevel === 'Debug');
    expect(raised).toMatchObject({ hosting: 'AWS', region: 'eu-west-1', version: OLDER, effectiveLogLevel: 'Debug', logLevelRevertsAt: new Date(since.getTime() + HOUR).toISOString() });
    expect(ws.run(['notifications']).stdout).toMatch(new RegExp(`Connector/dc\\s+ConnectorOutdated\\s+the agent on aws-agent runs mdmops ${OLDER.replace(/\./g, '\\.')}, older than the server's ${VERSION.replace(/\./g, '\\.')}`));

    // An hour after logLevelSince, on the agent's clock, with no gateway to tell it anything.
    await serve.stop();
    await waitUntil(() => lines, (l) => l.includes('disconnected from the gateway'));
    clock = since.getTime() + HOUR + 1000;
    await waitUntil(() => lines, (l) => l.includes('"msg":"log level Info"'));
    await startServe();
    await serve.waitFor('Connector/dc Ready again', (s) => connector(s)?.ready === 'True');
    const reverted = await waitUntil(() => status(), (s) => s.effectiveLogLevel === 'Info');
    expect(reverted.logLevelRevertsAt).toBeUndefined();
    // The spec still says Debug: no drift to correct, nothing for apply to do.
    const plan = ws.run(['plan', '-f', 'config', '--detailed-exitcode']);
    expect(plan.code, plan.stdout).toBe(0);
  });

  it('renews its certificate over the tunnel before it ends, and connects with the new one', async () => {
    const before = readFileSync(join(ws.dir, 'agent/certificate.pem'), 'utf8');
    // Two thirds into the certificate's 30 days.
    clock = Date.now() + 21 * DAY;
    await waitUntil(() => lines, (l) => l.includes('renewed the certificate'));
    const after = readFileSync(join(ws.dir, 'agent/certificate.pem'), 'utf8');
    expect(after).not.toBe(before);
    expect(lines).toContain('asking for a new certificate');
    // The next connection is made with the new key and certificate.
    stop.abort();
    await running;
    await serve.waitFor('Connector/dc gone', (st) => connector(st)?.ready === 'False');
    lines = '';
    startAgent();
    await serve.waitFor('Connector/dc Ready with the new certificate', (st) => connector(st)?.ready === 'True');
    expect(lines).toContain('connected to the gateway');
    expect(serve.output()).toContain("renewed the certificate of Connector/dc's agent");
  });
});

async function waitUntil<T>(attempt: () => T, done: (result: T) => boolean, limitMs = 20_000): Promise<T> {
  for (const deadline = Date.now() + limitMs; ; await new Promise((r) => setTimeout(r, 100))) {
    const result = attempt();
    if (done(result)) return result;
    if (Date.now() > deadline) throw new Error(`gave up waiting; last: ${JSON.stringify(result).slice(0, 2000)}`);
  }
}
