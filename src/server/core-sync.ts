// The receiving side of core sync: an HTTPS endpoint where peer cores push their tenant's
// configuration, authenticated as an account of this core's tenant (and, optionally, with a client
// certificate of a trusted CA). A bundle is validated as a whole (nothing is applied if anything
// is invalid, and the sender is told why), then applied like any other revision, from the source
// core:<core>/<tenant>: its items are owned by the sending core (read-only here: a local apply of
// them is refused, naming that source), a same-named item of this core is kept and reported, and
// items the sender no longer has are pruned under the mass-delete guard.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { API_VERSION } from '../api/index.js';
import { desiredInput } from '../config/input.js';
import type { SecretResolver } from '../config/secrets.js';
import { formatDiagnostic, type Diagnostic } from '../config/diagnostics.js';
import { validateValues } from '../config/validate.js';
import { applyPlan } from '../engine/apply.js';
import type { Engine } from '../engine/context.js';
import { makePlan } from '../engine/plan.js';
import type { Logger } from '../observe/log.js';
import { BUNDLE_FORMAT, SITE_KINDS, type Bundle } from '../providers/core-sync-target/bundle.js';
import { CORE_SYNC_PATH } from '../providers/core-sync-target/sync.js';
import { takeApplyLocks } from '../store/apply-lock.js';
import { messageOf } from '../util/message-of.js';
import { readCapped, TooLarge } from '../util/read-capped.js';
import { authenticate } from './core-sync-accounts.js';

export interface CoreSyncServerOptions {
  host: string;
  port: number;
  /** PEM. */
  cert: string;
  key: string;
  /** PEM: with it, a client certificate of this CA is required too. */
  clientCa?: string;
  engine: Engine;
  secrets: SecretResolver;
  /** The tenant received items land in, whose accounts may push. */
  tenant: string;
  log: Logger;
}

/** What a sender may push at most: compressed, then uncompressed. */
const MAX_BODY = 32 * 1024 * 1024;
const MAX_BUNDLE = 128 * 1024 * 1024;
const CORE_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** What this core applied last from a sending core's tenant: meta key, keyed by the receiving tenant. */
export const receivedKey = (tenant: string, core: string, from: string) => `core-sync-received/${tenant}/${core}/${from}`;
export const sourceOf = (core: string, tenant: string) => `core:${core}/${tenant}`;

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function serveCoreSync(o: CoreSyncServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer({ cert: o.cert, key: o.key, ...(o.clientCa ? { ca: o.clientCa, requestCert: true, rejectUnauthorized: true } : {}) }, (req, res) => {
    handle(o, req).then(
      (answer) => send(res, 200, answer),
      (e: unknown) => {
        if (e instanceof Refusal) return send(res, e.status, { error: e.message }, e.status === 401 ? { 'www-authenticate': 'Basic realm="mdmops core sync"' } : {});
        o.log.error({ err: messageOf(e) }, 'core sync: a push failed');
        send(res, 500, { error: messageOf(e) });
      },
    );
  });
  server.requestTimeout = 120_000;
  // A client certificate refused (missing, of another CA, expired) ends the connection before any
  // request: this is the only trace of it here. In TLS 1.3 a certificate that fails verification
  // surfaces as "socket hang up", its reason in the socket's authorizationError; OpenSSL's own
  // errors carry a short reason beside their long message.
  server.on('tlsClientError', (err: Error & { reason?: string }, socket) => {
    const why = socket.authorizationError ? `client certificate refused: ${String(socket.authorizationError)}` : (err.reason ?? messageOf(err));
    o.log.warn({ from: socket.remoteAddress, err: why }, 'core sync: a TLS handshake failed');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ host: o.host, port, tenant: o.tenant, clientCertificates: !!o.clientCa }, `core sync listening on ${o.host}:${port}`);
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
}

async function handle(o: CoreSyncServerOptions, req: IncomingMessage): Promise<unknown> {
  const route = `${req.method} ${req.url}`;
  if (route !== `POST ${CORE_SYNC_PATH.check}` && route !== `POST ${CORE_SYNC_PATH.bundles}`) throw new Refusal(404, `no such endpoint: ${route}`);
  const account = await authenticated(o, req);
  const core = String(req.headers['x-mdmops-core'] ?? '');
  if (!CORE_NAME.test(core)) throw new Refusal(400, 'X-Mdmops-Core must name the sending core');
  const body = await readCapped(req, MAX_BODY).catch((e: unknown) => {
    throw e instanceof TooLarge ? new Refusal(413, `the request is ${e.message}`) : e;
  });
  if (route === `POST ${CORE_SYNC_PATH.check}`) {
    const asked = parse<{ tenant?: unknown }>(body.toString('utf8'));
    const held = await received(o, core, String(asked.tenant ?? ''));
    return held ?? {};
  }
  const bundle = await unpack(body, core);
  return receive(o, bundle, account, body.length);
}

/** The account name, once its password (and the client certificate, if asked for) is good. */
async function authenticated(o: CoreSyncServerOptions, req: IncomingMessage): Promise<string> {
  const [scheme, encoded] = String(req.headers.authorization ?? '').split(' ');
  const text = scheme === 'Basic' && encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  const at = text.indexOf(':');
  const name = text.slice(0, Math.max(0, at));
  if (at <= 0 || !(await authenticate(o.engine.store, o.tenant, name, text.slice(at + 1)))) {
    o.log.warn({ account: name || undefined, from: req.socket.remoteAddress }, 'core sync: a push with wrong credentials was refused');
    throw new Refusal(401, `wrong account or password for tenant ${o.tenant}`);
  }
  return name;
}

async function received(o: CoreSyncServerOptions, core: string, from: string): Promise<{ generation: number; sha256: string } | undefined> {
  const text = await o.engine.store.getMeta(receivedKey(o.tenant, core, from));
  return text ? (JSON.parse(text) as { generation: number; sha256: string }) : undefined;
}

function parse<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Refusal(400, 'the body is not JSON');
  }
}

async function unpack(body: Buffer, core: string): Promise<Bundle> {
  let text: string;
  try {
    text = (await promisify(gunzip)(body, { maxOutputLength: MAX_BUNDLE })).toString('utf8');
  } catch (e) {
    throw new Refusal(400, `the bundle is not gzip within ${MAX_BUNDLE} bytes: ${messageOf(e)}`);
  }
  const bundle = parse<Bundle>(text);
  if (bundle.format !== BUNDLE_FORMAT) throw new Refusal(422, `bundle format "${String(bundle.format)}" is not ${BUNDLE_FORMAT}`);
  if (bundle.core !== core) throw new Refusal(422, `the bundle is from core ${bundle.core}, the request from ${core}`);
  if (!Array.isArray(bundle.items) || typeof bundle.generation !== 'number' || typeof bundle.tenant !== 'string') throw new Refusal(422, 'the bundle lacks its items, generation or tenant');
  return bundle;
}

/** Validated whole, then applied as a revision of the sending core's source. */
async function receive(o: CoreSyncServerOptions, bundle: Bundle, account: string, bytes: number) {
  const { engine, tenant } = o;
  const source = sourceOf(bundle.core, bundle.tenant);
  const revision = `generation ${bundle.generation}`;
  const held = await received(o, bundle.core, bundle.tenant);
  if (held && bundle.generation < held.generation) throw new Refusal(409, `generation ${bundle.generation} is older than generation ${held.generation}, applied already (a store restored from a backup? then run on this core: mdmops core-sync forget ${bundle.core} --from ${bundle.tenant}${tenant === 'default' ? '' : ` -n ${tenant}`})`);
  if (held && held.sha256 === bundle.sha256) return { result: 'unchanged', generation: bundle.generation };

  // This core's own items of a name the bundle has are kept: left out, and said.
  const inventory = new Map((await engine.store.listInventory()).filter((e) => e.tenant === tenant).map((e) => [`${e.kind}/${e.name}`, e.source]));
  const kept: string[] = [];
  const items = bundle.items.filter((i) => {
    if (SITE_KINDS.includes(i.kind)) return false;
    const owner = inventory.get(`${i.kind}/${i.metadata.name}`);
    if (owner !== undefined && owner !== source) kept.push(`${i.kind}/${i.metadata.name} (this core's, from source "${owner}")`);
    return owner === undefined || owner === source;
  });
  // The bundle is checked with this tenant's site-specific items (its connectors), which it may
  // reference but never carries; they are not applied from it.
  const site = (await engine.store.listRecords({ tenant })).filter((r) => SITE_KINDS.includes(r.kind));
  const namespace = tenant === 'default' ? {} : { namespace: tenant };
  const docs = [
    ...items.map((i) => ({ apiVersion: i.apiVersion, kind: i.kind, metadata: { ...i.metadata, ...namespace }, spec: i.spec })),
    ...site.map((r) => ({ apiVersion: API_VERSION, kind: r.kind, metadata: { name: r.name, ...namespace }, spec: r.spec })),
  ];
  // Checked as any configuration is, as the objects they are: no text to parse again.
  const validation = validateValues(`core-sync from ${bundle.core} (${bundle.tenant}, generation ${bundle.generation})`, docs);
  const refuse = (diagnostics: Diagnostic[]): never => {
    const problems = diagnostics.map((d) => formatDiagnostic({ ...d, hint: undefined }));
    throw new Refusal(422, `nothing was applied: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? `; and ${problems.length - 10} more` : ''}`);
  };
  if (validation.diagnostics.length) refuse(validation.diagnostics);
  const input = await desiredInput(validation, o.secrets, engine.key);
  if ('diagnostics' in input) return refuse(input.diagnostics);
  const desired = input.desired.filter((d) => !SITE_KINDS.includes(d.id.kind));

  const lock = await takeApplyLocks(engine.store, [tenant]).catch((e: unknown) => {
    throw new Refusal(503, `this core is applying tenant ${tenant} now (${messageOf(e)}); send again later`);
  });
  try {
    const plan = await makePlan(engine, desired, { source, revision });
    if (plan.problems.length) throw new Refusal(409, `nothing was applied: ${plan.problems.map((p) => p.message).join('; ')}`);
    const { results } = await applyPlan(engine, plan, { actor: `core:${bundle.core} (account ${account})`, secrets: o.secrets, signal: lock.signal, auditDetail: { core: bundle.core, generation: bundle.generation } });
    // Not applied whole (a resource failed, or waits for one that did, or was not started because the
    // lock was lost): not recorded as received, so that the next push of the same bundle applies it again.
    const failed = results.filter((r) => r.state === 'failed' || r.state === 'blocked' || r.state === 'cancelled');
    const counts = Object.fromEntries(['create', 'update', 'replace', 'delete'].map((a) => [a, results.filter((r) => r.state === 'done' && (r.action ?? r.change.action) === a).length]));
    const at = new Date().toISOString();
    const detail = { core: bundle.core, from: bundle.tenant, generation: bundle.generation, sha256: bundle.sha256, items: bundle.items.length, bytes, ...counts, failed: failed.length, kept };
    await engine.store.commit([
      ...(failed.length ? [] : [{ op: 'setMeta' as const, key: receivedKey(tenant, bundle.core, bundle.tenant), value: JSON.stringify({ generation: bundle.generation, sha256: bundle.sha256, at }) }]),
      { op: 'audit', entry: { at, tenant, kind: 'CoreSync', name: bundle.core, action: 'core-sync-receive', source, revision, actor: `core:${bundle.core}`, detail } },
    ]);
    o.log.info(detail, `core sync: applied generation ${bundle.generation} from ${bundle.core}`);
    return { result: failed.length ? 'partial' : 'applied', generation: bundle.generation, ...counts, failed: failed.map((r) => `${r.key}: ${r.message}`), kept };
  } finally {
    await lock.release();
  }
}
