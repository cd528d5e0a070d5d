// mdmops controller: reconcile the mdmops custom resources of a Kubernetes cluster into the tenant
// store (a namespace is a tenant), with leader election for several replicas, and /healthz,
// /readyz and /metrics on one port. SIGTERM: the reconciles under way finish, the Lease is handed back.
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { KubeClient } from '../kube/client.js';
import { serveHttp } from '../server/http.js';
import { createLogger } from '../observe/log.js';
import { Registry } from '../observe/metrics.js';
import { loadMasterKey } from '../store/master-key.js';
import { parseStoreSpec } from '../store/open.js';
import { UserError } from './errors.js';
import { duration, outboundOptions, outboundPolicy, parseListen, wholeNumber, type OutboundFlags } from './flags.js';
import { openSession, storeOptions, type StoreOptions } from './session.js';
import { gatewayOptions, startGateway, type GatewayFlags } from './connector.js';
import { coreSyncOptions, startCoreSync, type CoreSyncFlags } from './core-sync.js';
import { consoleOptions, startConsole, type ConsoleFlags } from './console.js';
import { notifierOf, notifyOptions, type NotifyFlags } from './notify.js';
import { kubeConsoleSignIn } from '../kube/console-sign-in.js';
import { KINDS } from '../api/index.js';
import { messageOf } from '../util/message-of.js';
import { VERSION } from './package-info.js';
import { runDueSyncsLogged } from '../engine/scheduled-sync.js';

interface ControllerFlags extends StoreOptions, OutboundFlags, GatewayFlags, CoreSyncFlags, NotifyFlags, ConsoleFlags {
  kubeconfig?: string;
  namespace: string[];
  listen: string;
  resync: string;
  syncCheck: string;
  concurrency: string;
  leaderElect?: boolean;
  leaseNamespace?: string;
  leaseName: string;
  leaseDuration: string;
  renewDeadline: string;
  retryPeriod: string;
  watchTimeout: string;
}

/**
 * The chart points MDMOPS_MASTER_KEY_FILE at the data volume when no key Secret is given: the
 * first start creates the key there (0600). Only for SQLite: replicas sharing PostgreSQL must all
 * be given the same key, so a missing file is an error then.
 */
function ensureMasterKeyFile(opts: StoreOptions, log: ReturnType<typeof createLogger>): void {
  const file = opts.masterKeyFile;
  if (!file || process.env.MDMOPS_MASTER_KEY || existsSync(file)) return;
  if (parseStoreSpec(opts.store).backend !== 'sqlite') {
    throw new UserError(`the master key file ${file} does not exist: replicas sharing a PostgreSQL store need the same key; give it in a Secret (MDMOPS_MASTER_KEY, the chart's masterKey.existingSecret)`);
  }
  loadMasterKey({ createAt: file });
  log.warn({ file }, `created a master key in ${file} (mode 0600); back it up, or give one from a Secret: without it the keys in the tenant store cannot be read`);
}

export function registerController(program: Command) {
  consoleOptions(notifyOptions(coreSyncOptions(gatewayOptions(outboundOptions(storeOptions(
    program
      .command('controller')
      .description('Reconcile the mdmops custom resources of a Kubernetes cluster (a namespace is a tenant), as the Helm chart runs it.')
      .option('--kubeconfig <file>', 'kubeconfig to use (default: KUBECONFIG, ~/.kube/config, or the in-cluster ServiceAccount)')
      .addOption(new Option('--namespace <ns>', 'namespace to watch; repeat for several').argParser((v: string, all: string[]) => [...all, v]).default([], 'every namespace'))
      .option('--listen <[host]:port>', 'address of /healthz, /readyz and /metrics (:8080 listens on every interface, as the chart does)', '127.0.0.1:8080')
      .option('--resync <duration>', 'how often every resource is reconciled again, to catch drift', '10m')
      .option('--sync-check <duration>', 'how often the leader looks for identity sources and SQL provisionings whose sync is due (their syncInterval)', '30s')
      .option('--concurrency <n>', 'resources reconciled at once', '4')
      .option('--leader-elect', 'campaign for a Lease: only the leader reconciles (for more than one replica)')
      .addOption(new Option('--lease-namespace <ns>', 'namespace of the Lease (default: POD_NAMESPACE, else default)').env('POD_NAMESPACE'))
      .option('--lease-name <name>', 'name of the Lease', 'mdmops-controller')
      .option('--lease-duration <duration>', 'how long a Lease not renewed stays with its holder', '15s')
      .option('--renew-deadline <duration>', 'how long the leader keeps trying to renew before it stops leading', '10s')
      .option('--retry-period <duration>', 'how often candidates try to take, and the leader to renew, the Lease', '2s')
      .option('--watch-timeout <duration>', 'length of each watch; a watch silent for longer (plus 30s) is restarted', '5m'),
  ))))))
    .addHelpText('after', '\nExamples:\n  mdmops controller --kubeconfig ~/.kube/config --namespace contoso --listen 127.0.0.1:8080\n  mdmops controller --leader-elect --lease-namespace mdmops-system')
    .action(async (opts: ControllerFlags) => {
      const concurrency = wholeNumber('--concurrency', opts.concurrency);
      const listen = parseListen(opts.listen);
      const resyncMs = duration('--resync', opts.resync, 1000);
      const syncCheckMs = duration('--sync-check', opts.syncCheck, 1000);
      const leaseDurationMs = duration('--lease-duration', opts.leaseDuration, 1000);
      const renewDeadlineMs = duration('--renew-deadline', opts.renewDeadline, 100);
      const retryPeriodMs = duration('--retry-period', opts.retryPeriod, 100);
      if (opts.leaderElect && !(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs)) {
        throw new UserError('--lease-duration must be longer than --renew-deadline, itself longer than --retry-period');
      }
      const watchTimeoutSeconds = Math.max(1, Math.round(duration('--watch-timeout', opts.watchTimeout, 1000) / 1000));
      const identity = process.env.POD_NAME || `${hostname()}_${process.pid}`;

      const log = createLogger();
      const [{ Controller }, { KubeClient }, { loadKubeAccess }, { KubeSecrets }] = await Promise.all([import('../kube/controller.js'), import('../kube/client.js'), import('../kube/kubeconfig.js'), import('../kube/secrets.js')]);
      let client: KubeClient;
      try {
        client = new KubeClient(await loadKubeAccess(opts.kubeconfig), `mdmops/${VERSION}`);
      } catch (e) {
        throw new UserError(`cannot load the Kubernetes configuration${opts.kubeconfig ? ` from ${opts.kubeconfig}` : ''}: ${messageOf(e)}`);
      }
      ensureMasterKeyFile(opts, log);
      const outbound = outboundPolicy(opts);
      const notify = notifierOf(opts, log);
      const session = await openSession(opts);
      // Tenants share the controller: their URLs reach no internal address unless allowed.
      session.outbound = outbound;
      const notifier = notify?.(session.store);
      const metrics = new Registry();
      let finished!: () => void;
      const stopped = new Promise<void>((resolve) => (finished = resolve));
      let exitCode = 0;
      const secrets = new KubeSecrets(client);
      const controller = new Controller(client, session, secrets, log, metrics, {
        namespaces: opts.namespace,
        resyncMs,
        concurrency,
        watchTimeoutSeconds,
        identity,
        lease: opts.leaderElect ? { namespace: opts.leaseNamespace || 'default', name: opts.leaseName, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs } : undefined,
        onLostLease: () => {
          // As client-go's controllers do: exit, and let the restart campaign afresh.
          exitCode = 1;
          stop('lease lost');
        },
        // Agents connect to the leader, where the work that needs their tunnels runs, and the scheduled syncs.
        onStartedLeading: () => {
          syncTimer = setInterval(() => {
            if (syncing) return; // the syncs of the last check are still under way
            syncing = syncDue().finally(() => (syncing = undefined));
          }, syncCheckMs);
          syncTimer.unref();
          startGateway(opts, session, log, { localSocket: false, onChange: (id) => controller.wake(id.tenant, id.kind, id.name) })
            .then(async (started) => {
              gateway = started;
              if (started) await markGatewayPod(client, 'active', log);
            })
            .catch((e: unknown) => {
              log.error(`the connector gateway could not start: ${messageOf(e)}`);
              exitCode = 1;
              stop('no connector gateway');
            });
        },
      });
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      let syncTimer: NodeJS.Timeout | undefined;
      let syncing: Promise<void> | undefined;
      // Each due sync, then its resource reconciled again: its custom resource's status shows the sync.
      // The leader alone sends notifications out, once each, at the same checks.
      const syncDue = async () => {
        try {
          for (const { id } of await runDueSyncsLogged(session, secrets, `controller:${identity}`, log)) controller.wake(id.tenant, id.kind, id.name);
          await notifier?.deliver();
        } catch (e) {
          log.warn(`scheduled syncs: ${messageOf(e)}`);
        }
      };
      // A replica that does not lead (yet) is no gateway: the chart's gateway Service selects the one that is.
      if (opts.gatewayListen) await markGatewayPod(client, 'standby', log);
      let http;
      // Every replica takes pushes from peer cores: the store is shared, and a push takes the tenant's apply lock.
      let coreSync: { close(): Promise<void> } | undefined;
      let webConsole: { close(): Promise<void> } | undefined;
      try {
        coreSync = await startCoreSync(opts, session, log);
        webConsole = await startConsole(opts, session, log, { secrets, connectorLogs: () => gateway?.gateway, externalSignIn: kubeConsoleSignIn(client, KINDS.map((k) => k.plural)) });
        http = await serveHttp({ host: listen.host, port: listen.port, metrics, notReady: () => controller.notReady() });
      } catch (e) {
        await webConsole?.close();
        await coreSync?.close();
        await session.close();
        throw e instanceof UserError ? e : new UserError(`--listen ${opts.listen}: ${messageOf(e)}`);
      }
      log.info({ host: listen.host, port: http.port }, `listening on ${listen.host}:${http.port} (/healthz, /readyz, /metrics)`);
      let stopping = false;
      const stop = (why: string) => {
        if (stopping) return;
        stopping = true;
        clearInterval(syncTimer);
        log.info({ why }, `${why}: stopping after the reconciles under way`);
        void controller.stop().finally(finished);
      };
      const onSignal = (signal: string) => stop(signal);
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      log.info({ identity, namespaces: opts.namespace.length ? opts.namespace : 'all', leaderElect: !!opts.leaderElect, resync: opts.resync, concurrency }, 'controller starting');
      controller.start();
      try {
        await stopped;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        await http.close();
        await webConsole?.close();
        await coreSync?.close();
        await syncing;
        await gateway?.close();
        client.close();
        await session.close();
        log.info('stopped');
        log.flush();
      }
      process.exitCode = exitCode;
    });
}

/** The label the chart's gateway Service selects: only the leader's pod holds "active". */
async function markGatewayPod(client: { request(method: string, path: string, body?: unknown, contentType?: string): Promise<unknown> }, state: 'active' | 'standby', log: ReturnType<typeof createLogger>) {
  const pod = process.env.POD_NAME;
  const namespace = process.env.POD_NAMESPACE;
  if (!pod || !namespace) return; // not in a pod (or not told which): nothing selects it
  try {
    await client.request('PATCH', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`, { metadata: { labels: { 'mdmops.io/gateway': state } } }, 'application/merge-patch+json');
  } catch (e) {
    log.warn(`could not label pod ${namespace}/${pod} mdmops.io/gateway=${state}: ${messageOf(e)}; the gateway Service may not reach this replica`);
  }
}
