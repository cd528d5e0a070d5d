// mdmops run --git URL | --watch DIR: the long-running GitOps mode. Applies each new revision whose
// whole configuration validates, serves /healthz, /readyz, /metrics, GET /status and the webhook
// POST /hooks/git, and on SIGTERM lets the apply under way finish or stops it cleanly.
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { duration, outboundOptions, outboundPolicy, parseListen, secretFlag, wholeNumber, type OutboundFlags } from './flags.js';
import { FolderSource } from '../gitops/folder-source.js';
import { credentialEnv, readGitCredentials, shownUrl, urlProblem } from '../gitops/credentials.js';
import { GitError, repoPath } from '../gitops/git.js';
import { GitSource } from '../gitops/git-source.js';
import { Runner } from '../gitops/runner.js';
import type { RevisionSource } from '../gitops/source.js';
import { deliveryId, SeenDeliveries, webhookAuthorized } from '../gitops/webhook.js';
import { serveHttp, type Route } from '../server/http.js';
import { createLogger } from '../observe/log.js';
import { Registry } from '../observe/metrics.js';
import { STATE_DIR } from '../store/open.js';
import { applyLock } from './apply.js';
import { UserError } from './errors.js';
import { actor, openSession, storeOptions, type StoreOptions } from './session.js';
import { gatewayOptions, startGateway, type GatewayFlags } from './connector.js';
import { coreSyncOptions, startCoreSync, type CoreSyncFlags } from './core-sync.js';
import { consoleOptions, startConsole, type ConsoleFlags } from './console.js';
import { deliverEvery, notifierOf, notifyOptions, type NotifyFlags } from './notify.js';
import { readInput } from '../config/input.js';
import { messageOf } from '../util/message-of.js';

interface RunOptions extends StoreOptions, OutboundFlags, GatewayFlags, CoreSyncFlags, NotifyFlags, ConsoleFlags {
  git?: string;
  watch?: string;
  branch: string;
  path: string;
  interval: string;
  debounce: string;
  listen: string;
  webhookSecretFile?: string;
  apiTokenFile?: string;
  gitSecret?: string;
  workdir?: string;
  source: string;
  concurrency: string;
  gracePeriod?: string;
  allowMassDelete?: boolean;
  once?: boolean;
}

/** How often run looks for notifications to send. */
const NOTIFY_CHECK_MS = 10_000;

export function registerRun(program: Command) {
  consoleOptions(notifyOptions(coreSyncOptions(gatewayOptions(outboundOptions(storeOptions(
    program
      .command('run')
      .description('Apply a configuration continuously from a git branch (--git) or a watched folder (--watch): each new revision is applied only if it all validates.')
      .option('--git <url>', 'repository to follow (https://, ssh://, git@host:path, or a local path)')
      .option('--watch <dir>', 'folder to watch for edits instead of a repository')
      .option('--branch <name>', 'branch to follow', 'main')
      .option('--path <dir>', 'folder of the configuration inside the repository', '.')
      .option('--interval <duration>', 'how often to fetch, and to apply the revision in force again', '1m')
      .option('--debounce <duration>', 'with --watch: quiet time after the last edit before a round', '500ms')
      .option('--listen <[host]:port>', 'address of /healthz, /readyz, /metrics, /status and /hooks/git (:8080 listens on every interface)', '127.0.0.1:8080')
      .addOption(new Option('--api-token-file <file>', 'bearer token of the status API (or set MDMOPS_API_TOKEN); without one, /status answers only on a loopback --listen'))
      .addOption(new Option('--webhook-secret-file <file>', 'shared secret of POST /hooks/git (or set MDMOPS_WEBHOOK_SECRET); without one the webhook answers 401'))
      .option('--git-secret <name>', 'secret holding the repository credentials: keys password (an HTTPS token) and optional username, or identity (an SSH key) and optional known_hosts')
      .option('--workdir <dir>', `where the repository cache and revisions' files are kept (default: ${STATE_DIR}/run/<source>)`)
      .option('--source <name>', 'name of this configuration: resources it applied and no longer holds are pruned', 'default')
      .option('--concurrency <n>', 'resources applied at once', '8')
      .option('--grace-period <duration>', 'on SIGTERM, how long an apply under way may go on before no further resource is started (default: until the revision is applied to the end)')
      .option('--allow-mass-delete', `allow revisions that prune more than 10 resources, or 5 or more and more than 25% of the source's inventory`)
      .option('--once', 'one round (fetch, validate, apply), then exit: 0 when the head is applied, 1 when not'),
  ))))))
    .addHelpText(
      'after',
      '\nExamples:\n  mdmops run --git https://github.com/contoso/mdm-config.git --path config --git-secret github\n  mdmops run --watch config/ --listen 127.0.0.1:8080',
    )
    .action(async (opts: RunOptions) => {
      if (!!opts.git === !!opts.watch) throw new UserError('give either --git URL or --watch DIR');
      const concurrency = wholeNumber('--concurrency', opts.concurrency);
      const intervalMs = duration('--interval', opts.interval, 1000);
      const debounceMs = duration('--debounce', opts.debounce, 0);
      const gracePeriodMs = opts.gracePeriod === undefined ? undefined : duration('--grace-period', opts.gracePeriod, 0);
      const listen = parseListen(opts.listen);
      const secret = secretFlag('--webhook-secret-file', opts.webhookSecretFile, 'MDMOPS_WEBHOOK_SECRET');
      const apiToken = secretFlag('--api-token-file', opts.apiTokenFile, 'MDMOPS_API_TOKEN');
      const workdir = resolve(opts.workdir ?? join(STATE_DIR, 'run', opts.source));
      let path = '';
      if (opts.git) {
        const problem = urlProblem(opts.git);
        if (problem) throw new UserError(problem);
        try {
          path = repoPath(opts.path);
        } catch (e) {
          throw new UserError(`--path ${(e as GitError).message}`);
        }
      }

      const log = createLogger();
      const outbound = outboundPolicy(opts);
      const notify = opts.once ? undefined : notifierOf(opts, log);
      const session = await openSession(opts);
      session.outbound = outbound;
      const notifier = notify?.(session.store);
      let stopNotifying: (() => Promise<void>) | undefined;
      let auth = credentialEnv(undefined, join(workdir, 'auth'));
      let src: RevisionSource | undefined;
      let http;
      let gateway: Awaited<ReturnType<typeof startGateway>>;
      let coreSync;
      let webConsole;
      try {
        if (!opts.once) gateway = await startGateway(opts, session, log, { localSocket: true });
        if (!opts.once) coreSync = await startCoreSync(opts, session, log);
        if (!opts.once) webConsole = await startConsole(opts, session, log, { connectorLogs: () => gateway?.gateway });
        if (notifier) stopNotifying = deliverEvery(notifier, NOTIFY_CHECK_MS, log);
        if (opts.gitSecret) {
          try {
            auth = credentialEnv(await readGitCredentials(session.secrets, opts.gitSecret), join(workdir, 'auth'));
          } catch (e) {
            throw new UserError(`--git-secret ${opts.gitSecret}: ${messageOf(e)}`);
          }
        }
        if (opts.git) {
          src = new GitSource({ url: opts.git, branch: opts.branch, path, workdir, env: auth.env });
        } else {
          const folder = new FolderSource({ folder: opts.watch!, workdir, debounceMs });
          await folder.start();
          src = folder;
        }
        const metrics = new Registry();
        const runner = new Runner(session, src, log, {
          source: opts.source,
          intervalMs,
          gracePeriodMs,
          concurrency,
          allowMassDelete: !!opts.allowMassDelete,
          actor: actor(),
          once: opts.once,
          read: (dir, label) => readInput([dir], session.secrets, session.key, label),
          lock: (desired) => {
            // Tenants share a configuration of several: their URLs reach no internal address unless
            // allowed. One tenant's is an administrator's own, which may.
            const tenants = new Set(desired.map((d) => d.id.tenant));
            outbound.allowInternal = !!opts.allowInternalTargets || tenants.size <= 1;
            return applyLock(session, opts.source, [...tenants]);
          },
        }, metrics);

        const webhooks = metrics.counter('mdmops_webhook_requests_total', 'Webhook requests, by result (accepted, duplicate, unauthorized).');
        const routes: Record<string, Route> = { 'GET /status': async () => ({ status: 200, body: await runner.status() }) };
        const hooks: Record<string, Route> = {};
        if (opts.git) {
          const seen = new SeenDeliveries();
          hooks['POST /hooks/git'] = async (req, body) => {
            if (!secret || !(await webhookAuthorized(req.headers, body, secret))) {
              webhooks.inc({ result: 'unauthorized' });
              log.warn({ remote: req.socket.remoteAddress }, 'webhook refused: no valid signature or token');
              return { status: 401, body: { error: secret ? 'unauthorized: sign the body (X-Hub-Signature-256) or send the shared secret (Authorization: Bearer)' : 'unauthorized: no webhook secret is configured (--webhook-secret-file or MDMOPS_WEBHOOK_SECRET)' } };
            }
            // A delivery sent again (a replay) changes nothing: the first one fetched already.
            const id = deliveryId(req.headers);
            if (id !== undefined && !seen.first(id)) {
              webhooks.inc({ result: 'duplicate' });
              return { status: 200, body: { accepted: false, reason: `delivery ${id} was seen before` } };
            }
            webhooks.inc({ result: 'accepted' });
            log.info({ event: req.headers['x-github-event'] ?? req.headers['x-gitlab-event'] ?? null }, 'webhook: fetching now');
            runner.trigger('webhook');
            return { status: 202, body: { accepted: true } };
          };
        }
        if (!opts.once) {
          try {
            http = await serveHttp({ host: listen.host, port: listen.port, metrics, notReady: () => runner.notReady(), routes, apiToken, hooks });
          } catch (e) {
            throw new UserError(`--listen ${opts.listen}: ${messageOf(e)}`);
          }
          log.info({ host: listen.host, port: http.port }, `listening on ${listen.host}:${http.port} (/healthz, /readyz, /metrics, /status${opts.git ? ', POST /hooks/git' : ''})`);
        }

        const stop = (signal: string) => {
          log.info({ signal }, `${signal}: stopping`);
          runner.stop();
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
        log.info({ ...src.describe(), source: opts.source, interval: opts.interval }, opts.git ? `following ${shownUrl(opts.git)} branch ${opts.branch}` : `watching ${opts.watch}`);
        try {
          await runner.run();
        } finally {
          process.off('SIGTERM', stop);
          process.off('SIGINT', stop);
        }
        if (opts.once) process.exitCode = runner.succeeded() ? 0 : 1;
        log.info('stopped');
      } finally {
        await stopNotifying?.();
        await http?.close();
        await webConsole?.close();
        await coreSync?.close();
        await gateway?.close();
        await src?.close();
        auth.remove();
        await session.close();
        log.flush();
      }
    });
}
