// mdmops connector token|agent|log-level, and the connector gateway flags the long-running modes
// share (serve, run, controller).
import { Option, type Command } from 'commander';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { LOG_LEVELS, type LogLevel } from '../api/index.js';
import { Agent, AgentError } from '../connector/agent.js';
import { openAgentLog } from '../connector/agent-log.js';
import { GATEWAY_PIN, givenGatewayTls, storeGatewayTls } from '../connector/authority.js';
import { Gateway } from '../connector/gateway.js';
import { localLogs, localSettingsChanged, serveLocalTunnels, tunnelSocketPath, type LogCollection } from '../connector/local.js';
import { issueToken, TokenError } from '../connector/token.js';
import { show } from '../engine/context.js';
import { refreshWithDependents } from '../engine/refresh.js';
import { createLogger, type Logger } from '../observe/log.js';
import { parseStoreSpec, stateDirOf } from '../store/open.js';
import type { ResourceId } from '../store/types.js';
import { messageOf } from '../util/message-of.js';
import { readCapped } from '../util/read-capped.js';
import type { IncomingMessage } from 'node:http';
import { UserError } from './errors.js';
import { duration, parseListen } from './flags.js';
import { VERSION } from './package-info.js';
import { parseResourceArg } from './resource-arg.js';
import { openSession, storeOptions, type Session, type StoreOptions } from './session.js';
import { editRecord } from './tenant.js';

export interface GatewayFlags {
  gatewayListen?: string;
  gatewayCert?: string;
  gatewayKey?: string;
  gatewayName?: string[];
  connectorHeartbeat: string;
}

export function gatewayOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--gateway-listen <[host]:port>', 'address where connector agents dial in (no gateway without it), e.g. :8443'))
    .addOption(new Option('--gateway-cert <file>', "the gateway's TLS certificate (PEM, with its chain up to the CA agents pin); default: one the store makes and keeps"))
    .addOption(new Option('--gateway-key <file>', 'the key of --gateway-cert (PEM)'))
    .addOption(new Option('--gateway-name <name...>', "host names and addresses agents reach the gateway by, for the certificate the store makes (default: this host's name and the listen address)"))
    .option('--connector-heartbeat <duration>', 'how often agents say they are there; three missed and the connector is unreachable', '10s');
}

/**
 * Starts the connector gateway when --gateway-listen says so: agents connect to it, this process's
 * work goes through their tunnels, and (with `localSocket`) so does the work of one-shot commands on the same store.
 */
export async function startGateway(opts: GatewayFlags & StoreOptions, session: Session, log: Logger, how: { localSocket: boolean; onChange?: (id: ResourceId) => void }): Promise<{ gateway: Gateway; close(): Promise<void> } | undefined> {
  if (!opts.gatewayListen) return undefined;
  const listen = parseListen(opts.gatewayListen, '--gateway-listen');
  if (!!opts.gatewayCert !== !!opts.gatewayKey) throw new UserError('--gateway-cert and --gateway-key go together');
  const anyAddress = ['0.0.0.0', '::', ''].includes(listen.host);
  const names = opts.gatewayName?.flatMap((n) => n.split(',')).filter(Boolean) ?? [hostname(), ...(anyAddress ? [] : [listen.host])];
  let tls;
  try {
    tls = opts.gatewayCert ? await givenGatewayTls(session.store, readFileSync(opts.gatewayCert, 'utf8'), readFileSync(opts.gatewayKey!, 'utf8')) : await storeGatewayTls(session.store, session.key, names);
  } catch (e) {
    throw new UserError(`${opts.gatewayCert ? `--gateway-cert ${opts.gatewayCert}` : 'the gateway certificate'}: ${messageOf(e)}`);
  }
  const refresh = (id: ResourceId) => {
    refreshWithDependents(session, id, { source: 'gateway', revision: '', actor: 'mdmops connector gateway', secrets: session.secrets }).catch((e: unknown) =>
      log.warn({ connector: show(id) }, `could not bring ${show(id)}'s status up to date: ${messageOf(e)}`),
    );
  };
  const gateway = new Gateway({ store: session.store, key: session.key, providers: session.providers, secrets: session.secrets, tls, log, version: VERSION, heartbeatMs: duration('--connector-heartbeat', opts.connectorHeartbeat, 1000), onChange: how.onChange ?? refresh });
  let port;
  try {
    port = await gateway.listen(listen.host, listen.port);
  } catch (e) {
    throw new UserError(`--gateway-listen ${opts.gatewayListen}: ${messageOf(e)}`);
  }
  session.tunnels = gateway;
  const socketPath = how.localSocket ? tunnelSocketPath(stateDirOf(parseStoreSpec(opts.store))) : undefined;
  let local;
  try {
    local = socketPath ? await serveLocalTunnels(socketPath, gateway, log) : undefined;
  } catch (e) {
    await gateway.close();
    throw new UserError(messageOf(e));
  }
  log.info({ host: listen.host, port, names: opts.gatewayCert ? undefined : names, socket: socketPath }, `connector gateway listening on ${listen.host}:${port}${socketPath ? `; one-shot commands reach its tunnels through ${socketPath}` : ''}`);
  return {
    gateway,
    async close() {
      await local?.close();
      await gateway.close();
    },
  };
}

interface TokenOptions extends StoreOptions {
  namespace: string;
  ttl: string;
}

interface AgentFlags {
  server: string;
  tokenFile?: string;
  stateDir: string;
  logDir?: string;
  proxy?: string;
  hostname?: string;
}

export function registerConnector(program: Command) {
  const connector = program.command('connector').description('Connector agents: enrolment tokens, the agent itself, log levels');

  storeOptions(
    connector
      .command('token')
      .description("Print a one-time enrolment token for a Connector's agent, alone on standard output (the store keeps only its hash)")
      .argument('<resource>', 'Connector/NAME (or Connector/TENANT/NAME)')
      .option('-n, --namespace <tenant>', 'tenant', 'default')
      .option('--ttl <duration>', 'how long the token may be used', '1h'),
  )
    .addHelpText('after', '\nExample:\n  mdmops connector token Connector/paris-dc > token\n  mdmops connector agent --server https://gw.example.com:8443 --token-file token --state-dir /var/lib/mdmops-agent')
    .action(async (resource: string, opts: TokenOptions) => {
      const id = connectorArg(resource, opts.namespace);
      const ttlMs = duration('--ttl', opts.ttl, 1000);
      const session = await openSession(opts);
      try {
        if (!(await session.store.getRecord(id))) throw new UserError(`${show(id)} is not in the tenant store at ${session.store.location}: apply it first`);
        const pin = await session.store.getMeta(GATEWAY_PIN);
        if (!pin) throw new UserError('no connector gateway has run on this store yet, so there is no gateway certificate for the token to pin: start mdmops serve --gateway-listen :8443 (or run/controller with --gateway-listen) first');
        const { text, expiresAt } = await issueToken(session.store, session.key, id, pin, ttlMs);
        process.stdout.write(text + '\n');
        process.stderr.write(`mdmops: a token for ${show(id)}, valid once until ${expiresAt}; it replaces any token made before\n`);
      } finally {
        await session.close();
      }
    });

  connector
    .command('agent')
    .description('Run a connector agent inside the customer network: it enrols with a token once, then dials out to the gateway and carries the traffic of the resources that name its connector')
    .requiredOption('--server <url>', 'the gateway, https://HOST:PORT')
    .option('--token-file <file>', 'enrolment token (mdmops connector token); needed only the first time')
    .requiredOption('--state-dir <dir>', "where the agent keeps its key, certificate and the gateway's CA (mode 0700)")
    .option('--log-dir <dir>', 'where kocab.log is written, rotated daily (default: <state-dir>/logs)')
    .option('--proxy <url>', 'HTTP proxy to reach the gateway through (http://[user:password@]host:port), until the Connector says otherwise')
    .option('--hostname <name>', 'the name this agent reports (default: the host name)')
    .addHelpText('after', '\nExample:\n  mdmops connector agent --server https://gw.example.com:8443 --token-file token --state-dir /var/lib/mdmops-agent')
    .action(async (opts: AgentFlags) => {
      const logDir = opts.logDir ?? join(opts.stateDir, 'logs');
      const file = openAgentLog(logDir);
      const log = createLogger({ level: 'info', tee: file });
      const stop = new AbortController();
      const quit = (signal: string) => {
        log.info(`${signal}: stopping`);
        stop.abort();
      };
      process.on('SIGTERM', quit);
      process.on('SIGINT', quit);
      try {
        await new Agent({ server: opts.server, tokenFile: opts.tokenFile, stateDir: opts.stateDir, logDir, proxy: opts.proxy, hostname: opts.hostname ?? hostname(), version: VERSION, log }).run(stop.signal);
      } catch (e) {
        if (e instanceof AgentError || e instanceof TokenError) {
          log.error(e.message);
          throw new UserError(e.message);
        }
        throw e;
      } finally {
        process.off('SIGTERM', quit);
        process.off('SIGINT', quit);
        log.flush();
        await file.close();
      }
    });

  storeOptions(
    connector
      .command('log-level')
      .description("Raise a connector's log level for an hour: prints the two lines to commit in its spec; on a store whose Connector no git repository manages, sets them there too")
      .argument('<resource>', 'Connector/NAME')
      .argument('<level>', LOG_LEVELS.join(', '))
      .option('-n, --namespace <tenant>', 'tenant', 'default'),
  )
    .addHelpText('after', '\nExample:\n  mdmops connector log-level Connector/paris-dc Debug')
    .action(async (resource: string, level: string, opts: StoreOptions & { namespace: string }) => {
      const id = connectorArg(resource, opts.namespace);
      const wanted = LOG_LEVELS.find((l) => l.toLowerCase() === level.toLowerCase());
      if (!wanted) throw new UserError(`"${level}": the log level is one of ${LOG_LEVELS.join(', ')}`);
      // To the second: what is printed and what is set are the same time.
      const since = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
      const lines = logLevelLines(wanted, since);
      const session = await openSession(opts, { readOnly: true }).catch(() => undefined);
      try {
        const applied = session && (await session.store.getInventory(id));
        // A git revision is a commit: the lines go there, or the next revision takes them back.
        if (!session || !(await session.store.getRecord(id)) || !applied || /^[0-9a-f]{40}$/.test(applied.revision)) {
          process.stdout.write(lines);
          process.stderr.write(`mdmops: commit these lines in the spec of ${show(id)}; ${wanted === 'Info' ? 'Info is the level it reverts to' : 'the agent goes back to Info one hour later'}\n`);
          return;
        }
        const changed = await editRecord(session, id, [
          { path: ['logLevel'], value: wanted },
          wanted === 'Info' ? { path: ['logLevelSince'], unset: true } : { path: ['logLevelSince'], value: since },
        ]);
        process.stdout.write(lines);
        const socket = tunnelSocketPath(stateDirOf(parseStoreSpec(opts.store)));
        const handed = await localSettingsChanged(socket, id.tenant, id.name).catch((e: unknown) => {
          throw new UserError(`${changed}, but the running server could not hand it to the agent: ${messageOf(e)}`);
        });
        const agent = handed ? 'the agent runs at it now' : handed === false ? 'the agent takes it as soon as it connects' : 'no server with --gateway-listen runs on this store: the agent takes it once one does and it connects';
        process.stderr.write(`mdmops: ${changed}; ${agent}. Put these lines in your configuration too, or its next apply takes the level back\n`);
      } finally {
        await session?.close();
      }
    });

  storeOptions(
    connector
      .command('logs')
      .description("Collect a connector agent's logs (kocab.log and its rotated files) into a zip, through its tunnel, and download it")
      .argument('<resource>', 'Connector/NAME')
      .option('-n, --namespace <tenant>', 'tenant', 'default')
      .option('--request', 'ask the agent to zip its logs (replacing the zip before) and wait until it is ready')
      .option('--cancel', 'stop a collection under way (no zip is left)')
      .option('--download', 'save the last zip')
      .option('--output-dir <dir>', 'with --download: where to save it', '.'),
  )
    .addHelpText('after', '\nExamples:\n  mdmops connector logs Connector/paris-dc --request\n  mdmops connector logs Connector/paris-dc --download --output-dir /tmp')
    .action(async (resource: string, opts: StoreOptions & { namespace: string; request?: boolean; cancel?: boolean; download?: boolean; outputDir: string }) => {
      const id = connectorArg(resource, opts.namespace);
      if ([opts.request, opts.cancel, opts.download].filter(Boolean).length !== 1) throw new UserError('say one of --request, --cancel or --download');
      const socket = tunnelSocketPath(stateDirOf(parseStoreSpec(opts.store)));
      const ask = async (method: 'GET' | 'POST' | 'DELETE', file = false) => {
        const res = await localLogs(socket, method, id.tenant, id.name, file).catch((e: unknown) => {
          throw new UserError(messageOf(e));
        });
        if (res.statusCode !== 200) throw new UserError(String((JSON.parse((await text(res)) || '{}') as { error?: string }).error ?? `status ${res.statusCode}`));
        return res;
      };
      if (opts.download) {
        const res = await ask('GET', true);
        const name = decodeURIComponent(String(res.headers['x-file-name']));
        mkdirSync(opts.outputDir, { recursive: true });
        const path = join(opts.outputDir, basename(name));
        await pipeline(res, createWriteStream(path, { mode: 0o600 }));
        process.stdout.write(`${path}\n`);
        return;
      }
      let logs = JSON.parse(await text(await ask(opts.request ? 'POST' : 'DELETE'))) as LogCollection | null;
      if (opts.cancel) {
        process.stdout.write(
          logs?.state === 'collecting'
            ? `the log collection of ${show(id)} is being cancelled\n`
            : `no log collection of ${show(id)} is under way, nothing to cancel${logs ? ` (the last one is ${logs.state}${logs.name ? `: ${logs.name}` : ''})` : ''}\n`,
        );
        return;
      }
      process.stderr.write(`mdmops: the agent of ${show(id)} is collecting its logs...\n`);
      while (logs?.state === 'collecting') {
        await new Promise((r) => setTimeout(r, 250));
        logs = JSON.parse(await text(await ask('GET'))) as LogCollection | null;
      }
      if (logs?.state !== 'ready') throw new UserError(`the log collection ${logs?.state ?? 'ended'}${logs?.error ? `: ${logs.error}` : ''}`);
      process.stdout.write(`${logs.name} (${logs.size} bytes) is ready: mdmops connector logs ${show(id)} --download\n`);
    });
}

/** A JSON answer of the server's socket is a few hundred bytes. */
const text = async (res: IncomingMessage) => (await readCapped(res, 1 << 20)).toString();

function logLevelLines(level: LogLevel, since: string): string {
  return level === 'Info' ? 'logLevel: Info\n' : `logLevel: ${level}\nlogLevelSince: "${since}"\n`;
}

function connectorArg(text: string, tenant: string): ResourceId {
  const id = parseResourceArg(text, tenant);
  if (id.kind !== 'Connector') throw new UserError(`"${text}": expected Connector/NAME`);
  return id;
}
