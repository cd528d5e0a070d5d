// mdmops serve: the long-running mode on the tenant store alone, with no configuration source:
// /healthz, /readyz, /metrics and GET /status as `run` serves them, and the identity sources and SQL
// provisionings synced on their syncInterval. Configuration reaches the store by `mdmops apply` (or another mode).
import { Option, type Command } from 'commander';
import { show, statusLines } from '../engine/context.js';
import { runDueSyncsLogged } from '../engine/scheduled-sync.js';
import { createLogger } from '../observe/log.js';
import { Registry } from '../observe/metrics.js';
import { serveHttp } from '../server/http.js';
import { messageOf } from '../util/message-of.js';
import { UserError } from './errors.js';
import { duration, outboundOptions, outboundPolicy, parseListen, secretFlag, type OutboundFlags } from './flags.js';
import { openSession, storeOptions, type Session, type StoreOptions } from './session.js';
import { gatewayOptions, startGateway, type GatewayFlags } from './connector.js';
import { coreSyncOptions, startCoreSync, type CoreSyncFlags } from './core-sync.js';
import { consoleOptions, startConsole, type ConsoleFlags } from './console.js';
import { notifierOf, notifyOptions, type NotifyFlags } from './notify.js';

interface ServeOptions extends StoreOptions, OutboundFlags, GatewayFlags, CoreSyncFlags, NotifyFlags, ConsoleFlags {
  listen: string;
  apiTokenFile?: string;
  interval: string;
}

export function registerServe(program: Command) {
  consoleOptions(notifyOptions(coreSyncOptions(gatewayOptions(outboundOptions(storeOptions(
    program
      .command('serve')
      .description('Serve the tenant store: health, metrics and the status API, and identity sources synced on their syncInterval. Apply configuration with mdmops apply.')
      .option('--listen <[host]:port>', 'address of /healthz, /readyz, /metrics and /status (:8080 listens on every interface)', '127.0.0.1:8080')
      .addOption(new Option('--api-token-file <file>', 'bearer token of the status API (or set MDMOPS_API_TOKEN); without one, /status answers only on a loopback --listen'))
      .option('--interval <duration>', 'how often to look for syncs that are due (identity sources, SQL provisionings, core-sync targets) and notifications to send', '30s'),
  ))))))
    .addHelpText('after', '\nExamples:\n  mdmops serve --listen 127.0.0.1:8080\n  mdmops serve --gateway-listen :8443 --gateway-name gw.example.com   (connector agents dial in here)')
    .action(async (opts: ServeOptions) => {
      const listen = parseListen(opts.listen);
      const intervalMs = duration('--interval', opts.interval, 1000);
      const apiToken = secretFlag('--api-token-file', opts.apiTokenFile, 'MDMOPS_API_TOKEN');
      const log = createLogger();
      const outbound = outboundPolicy(opts);
      const notify = notifierOf(opts, log);
      const session = await openSession(opts);
      session.outbound = outbound;
      const notifier = notify?.(session.store);
      const metrics = new Registry();
      const rounds = metrics.counter('mdmops_serve_sync_rounds_total', 'Scheduled syncs (identity sources, SQL provisionings), by result (synced, failed).');
      let lastCheck: string | undefined;
      let http;
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      let coreSync;
      let webConsole;
      try {
        gateway = await startGateway(opts, session, log, { localSocket: true });
        coreSync = await startCoreSync(opts, session, log);
        webConsole = await startConsole(opts, session, log, { connectorLogs: () => gateway?.gateway });
        try {
          http = await serveHttp({ host: listen.host, port: listen.port, metrics, notReady: () => undefined, routes: { 'GET /status': async () => ({ status: 200, body: await storeStatus(session, lastCheck) }) }, apiToken, hooks: {} });
        } catch (e) {
          throw new UserError(`--listen ${opts.listen}: ${messageOf(e)}`);
        }
        log.info({ host: listen.host, port: http.port, store: session.store.location }, `serving the tenant store at ${session.store.location}; listening on ${listen.host}:${http.port} (/healthz, /readyz, /metrics, /status)`);

        let stopping = false;
        let wake: (() => void) | undefined;
        const stop = (signal: string) => {
          log.info({ signal }, `${signal}: stopping once the sync under way is done`);
          stopping = true;
          wake?.();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        try {
          while (!stopping) {
            // Tenants share this server when the store holds several: their URLs then reach no internal address unless allowed.
            const tenants = new Set((await session.store.listRecords()).map((r) => r.tenant));
            outbound.allowInternal = !!opts.allowInternalTargets || tenants.size <= 1;
            for (const { report } of await runDueSyncsLogged(session, session.secrets, 'mdmops serve', log)) rounds.inc({ result: report.error || report.blocked ? 'failed' : 'synced' });
            await notifier?.deliver();
            lastCheck = new Date().toISOString();
            if (!stopping) await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, intervalMs).unref();
            });
          }
        } finally {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
        }
        log.info('stopped');
      } finally {
        await http?.close();
        await webConsole?.close();
        await coreSync?.close();
        await gateway?.close();
        await session.close();
        log.flush();
      }
    });
}

/** What GET /status says in serve mode: every resource of the store, and the sources' last syncs. */
async function storeStatus(session: Session, lastCheck: string | undefined): Promise<Record<string, unknown>> {
  const records = await session.store.listRecords();
  const sources = records
    .filter((r) => session.providers.get(r.kind).sync)
    .map((r) => ({ source: show(r), lastSyncTime: r.status.lastSyncTime ?? null, userCount: r.status.userCount ?? null, lastError: r.status.lastError ?? null }));
  return {
    mode: 'serve',
    store: session.store.location,
    lastSyncCheck: lastCheck ?? null,
    ...statusLines(records),
    sources,
  };
}
