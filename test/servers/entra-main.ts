// The Entra emulator's process: HTTPS on 127.0.0.1 serving the identity platform's token endpoint and
// OpenID configuration, Graph v1.0's /users/delta and /groups/delta, and a control API under
// /_emulator/ (a path Graph never uses) that seeds the directory, injects faults and reports what was
// served. A process of its own because CLI tests block their event loop (see entra.ts, which starts it).
// Usage: node entra-main.js CONFIG.json
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Directory, GraphFailure, decodeCursor, encodeCursor, type Cursor, type Kind, type Query } from './entra-directory.js';
import { aadError, checkAccessToken, jwks, openidConfiguration, tokenRequest, type AppRegistration, type Signer, type TokenAnswer } from './entra-sts.js';
import type { GeneratorContext } from './entra-users.js';

export interface EmulatorConfig extends GeneratorContext {
  port: number;
  certFile: string;
  keyFile: string;
  app: AppRegistration;
  extensionNames: string[];
  users: number;
  groups: number;
  pageSize: number;
  memberPageSize: number;
  /** Seconds; null: 60 to 90 minutes at random, as Entra ID gives. */
  tokenLifetime: number | null;
}

/** Faults, as POST /_emulator/faults sets them (a key given replaces that fault; null clears it). */
export interface Faults {
  /** The next `count` requests to the target (after letting `after` through) answer `status` with Retry-After (omitted when null). */
  throttle?: { count: number; retryAfter?: number | null; status?: 429 | 503 | 504; after?: number; target?: 'graph' | 'token' } | null;
  /**
   * After `afterPages` more successful answers of the target, connections are reset: for `count` requests,
   * or until cleared. With refuseSeconds, the request then resets and the server stops listening for that
   * long (connections refused; the control API too), then listens again and the outage is over.
   */
  outage?: { afterPages?: number; count?: number | null; target?: 'graph' | 'token' | 'all'; refuseSeconds?: number } | null;
  /** Seconds a new access token is valid (and its expires_in); null: back to 60 to 90 minutes at random. */
  tokenLifetime?: number | null;
  /** Every access token issued so far answers 401 from now on. */
  revokeTokens?: boolean;
  /** Every nextLink and deltaLink issued so far answers 410 Gone from now on (a synchronization reset). */
  expireDeltaTokens?: boolean;
  /** Moves the emulator's clock on by this many seconds: links older than 7 days by it are expired (400 syncStateNotFound). */
  advanceClock?: number;
  /** After `afterUserPages` more pages of users, the user is changed (as updateUser), as an administrator may while a sync reads. */
  change?: { afterUserPages: number; id: string; patch: Record<string, unknown> } | null;
}

export interface RequestRecord {
  seq: number;
  /** Milliseconds since the epoch when the request arrived. */
  at: number;
  method: string;
  /** Path and query string. */
  path: string;
  kind: 'token' | 'graph' | 'metadata' | 'unknown';
  /** 0: the connection was reset. */
  status: number;
  /** Graph: whether the bearer token was accepted. */
  auth?: 'ok' | 'missing' | 'invalid' | 'expired' | 'revoked';
  /** Token endpoint: how the app authenticated (when it got that far). */
  credential?: 'secret' | 'certificate';
  /** AADSTS code or Graph error code of a refusal. */
  error?: string;
  fault?: 'throttle' | 'outage';
  retryAfter?: number;
  /** The Prefer header, when sent. */
  prefer?: string;
  /** Graph pages: objects in value, and which link the page carried. */
  items?: number;
  link?: 'next' | 'delta';
}

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as EmulatorConfig;
const base = `https://127.0.0.1:${config.port}`;
const app: AppRegistration = config.app;
const directory = new Directory(config, config.extensionNames);
if (config.users) directory.generateUsers(config.users);
if (config.groups) directory.generateGroups(config.groups);

const signer: Signer = { key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, kid: randomBytes(20).toString('base64url') };
const tokenKey = randomBytes(32);
/** The emulator's clock, which a test may move on (advanceClock): it dates the links it issues. */
const now = () => Date.now() + state.clockOffset;
/**
 * Delta-query-overview, "Token duration": a delta token of directory objects (users, groups) is
 * valid for 7 days; after that the answer is "a 40X-series error with error codes such as
 * syncStateNotFound", and the client synchronizes again from scratch.
 * https://learn.microsoft.com/en-us/graph/delta-query-overview#token-duration
 */
const LINK_LIFETIME_MS = 7 * 86_400_000;
const MAX_LOG = 20_000;
/**
 * Objects per page at most, whatever odata.maxpagesize asks: users and groups delta pages are
 * reported to hold about 200 (Graph documents no $top for them, and no page size: delta-query-overview).
 */
const MAX_PAGE = 200;

const state = {
  tokenLifetime: config.tokenLifetime,
  tokenSerial: 0,
  revokedBelow: 0,
  epoch: 1,
  /** Added to the real time: the clock that ages delta links. */
  clockOffset: 0,
  throttle: undefined as undefined | { remaining: number; skip: number; retryAfter: number | null; status: 429 | 503 | 504; target: 'graph' | 'token' },
  outage: undefined as undefined | { pagesLeft: number; remaining: number | null; target: 'graph' | 'token' | 'all'; refuseSeconds?: number },
  change: undefined as undefined | { pagesLeft: number; id: string; patch: Record<string, unknown> },
  log: [] as RequestRecord[],
  seq: 0,
};

function setFaults(f: Faults): void {
  if (f.throttle === null) state.throttle = undefined;
  else if (f.throttle) {
    state.throttle = { remaining: f.throttle.count, skip: f.throttle.after ?? 0, retryAfter: f.throttle.retryAfter === undefined ? 1 : f.throttle.retryAfter, status: f.throttle.status ?? 429, target: f.throttle.target ?? 'graph' };
  }
  if (f.outage === null) state.outage = undefined;
  else if (f.outage) state.outage = { pagesLeft: f.outage.afterPages ?? 0, remaining: f.outage.count ?? null, target: f.outage.target ?? 'graph', refuseSeconds: f.outage.refuseSeconds };
  if (f.tokenLifetime !== undefined) state.tokenLifetime = f.tokenLifetime;
  if (f.revokeTokens) state.revokedBelow = state.tokenSerial + 1;
  if (f.expireDeltaTokens) state.epoch++;
  if (f.advanceClock) state.clockOffset += f.advanceClock * 1000;
  if (f.change === null) state.change = undefined;
  else if (f.change) state.change = { pagesLeft: f.change.afterUserPages, id: f.change.id, patch: f.change.patch };
}

function faultsNow() {
  return { throttle: state.throttle ?? null, outage: state.outage ?? null, tokenLifetime: state.tokenLifetime, epoch: state.epoch, clockOffset: state.clockOffset };
}

// ---- answers ----

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const graphDate = () => new Date().toISOString().replace(/\.\d+Z$/, '');

/** Graph's error body: {error: {code, message, innerError: {date, request-id, client-request-id}}}. */
function graphError(res: ServerResponse, ids: Ids, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  send(res, status, { error: { code, message, innerError: { date: graphDate(), 'request-id': ids.request, 'client-request-id': ids.client } } }, { ...ids.headers, ...headers });
}

interface Ids {
  request: string;
  client: string;
  headers: Record<string, string>;
}

function idsOf(req: IncomingMessage): Ids {
  const request = randomUUID();
  const client = typeof req.headers['client-request-id'] === 'string' ? req.headers['client-request-id'] : request;
  return { request, client, headers: { 'request-id': request, 'client-request-id': client } };
}

function record(r: Omit<RequestRecord, 'seq'>): RequestRecord {
  const entry = { seq: ++state.seq, ...r };
  state.log.push(entry);
  if (state.log.length > MAX_LOG) state.log.splice(0, state.log.length - MAX_LOG);
  return entry;
}

/**
 * A connection reset (TCP RST), as a network outage looks to a client. Only the TCP socket under the TLS
 * one can send a reset; node keeps it as _parent. A plain close is the fallback.
 */
function reset(req: IncomingMessage): void {
  const tcp = (req.socket as unknown as { _parent?: { resetAndDestroy?: () => void } })._parent;
  try {
    tcp!.resetAndDestroy!();
  } catch {
    req.socket.destroy();
  }
}

/** Applies the outage and throttle faults to a request of this target; true when it was answered. */
function faulted(target: 'graph' | 'token', req: IncomingMessage, res: ServerResponse, entry: Omit<RequestRecord, 'seq' | 'status'>, ids: Ids): boolean {
  const o = state.outage;
  if (o && (o.target === target || o.target === 'all') && o.pagesLeft <= 0) {
    if ((o.remaining !== null && --o.remaining <= 0) || o.refuseSeconds) state.outage = undefined;
    record({ ...entry, status: 0, fault: 'outage' });
    // Listening stops before the reset goes out: a client quick to connect again is refused, not
    // queued in the backlog and reset with it.
    if (o.refuseSeconds) server.close();
    reset(req);
    if (o.refuseSeconds) {
      server.closeAllConnections();
      setTimeout(() => server.listen(config.port, '127.0.0.1'), o.refuseSeconds * 1000);
    }
    return true;
  }
  const t = state.throttle;
  if (t && t.target === target) {
    if (t.skip > 0) {
      t.skip--;
      return false;
    }
    if (--t.remaining <= 0) state.throttle = undefined;
    const headers: Record<string, string> = t.retryAfter === null ? {} : { 'retry-after': String(t.retryAfter) };
    record({ ...entry, status: t.status, fault: 'throttle', ...(t.retryAfter === null ? {} : { retryAfter: t.retryAfter }) });
    if (target === 'token') {
      const a = t.status === 429
        ? aadError(429, 'temporarily_unavailable', 90055, 'There are too many incoming requests. Please try again later.', ids.client)
        : aadError(t.status, 'temporarily_unavailable', 90006, 'The service is temporarily unavailable.', ids.client);
      send(res, a.status, a.body, headers);
    } else if (t.status === 429) {
      graphError(res, ids, 429, 'TooManyRequests', `Too many requests from Identifier:${app.clientId}+${app.tenantId} under category:throttle.aad.ags.msgraph.delta. Please try again later.`, headers);
    } else if (t.status === 503) {
      graphError(res, ids, 503, 'serviceNotAvailable', 'The service is temporarily unavailable. Please try again later.', headers);
    } else {
      graphError(res, ids, 504, 'timeout', 'The operation timed out.', headers);
    }
    return true;
  }
  return false;
}

/** A successful answer of the target: counts towards an outage set to begin after N of them. */
function served(target: 'graph' | 'token', kind?: Kind): void {
  const o = state.outage;
  if (o && (o.target === target || o.target === 'all') && o.pagesLeft > 0) o.pagesLeft--;
  const c = state.change;
  if (c && kind === 'users' && --c.pagesLeft <= 0) {
    state.change = undefined;
    directory.updateUser(c.id, c.patch);
  }
}

// ---- token endpoint and metadata ----

async function token(req: IncomingMessage, res: ServerResponse, tenant: string, path: string, at: number): Promise<void> {
  const ids = idsOf(req);
  const entry = { at, method: req.method!, path, kind: 'token' as const };
  let answer: TokenAnswer;
  if (req.method !== 'POST') {
    answer = aadError(400, 'invalid_request', 900561, `The endpoint only accepts POST, OPTIONS requests. Received a ${req.method} request.`, ids.client);
  } else {
    const form = new URLSearchParams((await readBody(req)).toString());
    if (faulted('token', req, res, entry, ids)) return;
    // Access-tokens, "Token lifetime": "a random value ranging between 60-90 minutes (75 minutes on average)".
    // https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#token-lifetime
    const lifetime = state.tokenLifetime ?? 3600 + Math.floor(Math.random() * 1801);
    answer = tokenRequest(app, signer, { tenant, form, correlationId: ids.client, base, now: Date.now(), lifetime, serial: state.tokenSerial + 1 });
    if (answer.status === 200) state.tokenSerial++;
  }
  record({ ...entry, status: answer.status, ...(answer.credential ? { credential: answer.credential } : {}), ...(answer.error ? { error: answer.error } : {}) });
  if (answer.status === 200) served('token');
  send(res, answer.status, answer.body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': ids.request, 'client-request-id': ids.client });
}

function tenantKnown(t: string): boolean {
  return t === app.tenantId || t.toLowerCase() === app.domain.toLowerCase();
}

// ---- Graph ----

function prefer(req: IncomingMessage): { maxPageSize?: number; minimal: boolean; raw?: string } {
  const raw = ([] as string[]).concat(req.headers.prefer ?? []).join(',');
  const size = /odata\.maxpagesize\s*=\s*(\d+)/i.exec(raw)?.[1];
  return { maxPageSize: size ? Number(size) : undefined, minimal: /return\s*=\s*minimal/i.test(raw), ...(raw ? { raw } : {}) };
}

function initialUrl(kind: Kind, q?: Query): string {
  if (!q) return `${base}/v1.0/${kind}/delta`;
  const select = [...q.select, ...(q.members ? ['members'] : [])].join(',');
  const filter = q.filter ? `&$filter=${encodeURIComponent(q.filter.map((id) => `id eq '${id}'`).join(' or '))}` : '';
  return `${base}/v1.0/${kind}/delta?$select=${select}${filter}`;
}

/** The application permissions that allow each delta query (user-delta, group-delta: "Permissions"). */
const GRANTING: Record<Kind, string[]> = {
  users: ['User.Read.All', 'User.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
  groups: ['GroupMember.Read.All', 'Group.Read.All', 'Group.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'],
};

function graph(req: IncomingMessage, res: ServerResponse, url: URL, at: number): void {
  const ids = idsOf(req);
  const p = prefer(req);
  const entry = { at, method: req.method!, path: url.pathname + url.search, kind: 'graph' as const, ...(p.raw ? { prefer: p.raw } : {}) };
  if (faulted('graph', req, res, entry, ids)) return;
  const auth = checkAccessToken(req.headers.authorization, signer, app.tenantId, Date.now(), state.revokedBelow);
  if (!auth.ok) {
    record({ ...entry, status: 401, auth: auth.auth, error: 'InvalidAuthenticationToken' });
    graphError(res, ids, 401, 'InvalidAuthenticationToken', auth.message, {
      'www-authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
    });
    return;
  }
  const fail = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
    record({ ...entry, status, auth: 'ok', error: code });
    graphError(res, ids, status, code, message, headers);
  };
  const m = /^\/v1\.0\/(users|groups)\/(?:microsoft\.graph\.)?delta(?:\(\))?$/.exec(url.pathname);
  if (!m) {
    const segment = url.pathname.split('/').filter(Boolean).slice(1).join('/');
    return fail(400, 'BadRequest', `Resource not found for the segment '${segment}'.`);
  }
  if (req.method !== 'GET') return fail(405, 'Request_BadRequest', `The HTTP method '${req.method}' is not allowed for this resource.`);
  const kind = m[1] as Kind;
  // Each delta needs one of its application permissions in the token (user-delta and group-delta,
  // "Permissions"); without, Graph answers 403 Authorization_RequestDenied, "Insufficient
  // privileges to complete the operation." (https://learn.microsoft.com/en-us/graph/resolve-auth-errors).
  if (!auth.roles.some((r) => GRANTING[kind].includes(r))) return fail(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  // Query option names are case-insensitive ($deltaToken in the docs, $deltatoken in links).
  const params = new URLSearchParams();
  for (const [k, v] of url.searchParams) params.set(k.startsWith('$') ? k.toLowerCase() : k, v);
  const skip = params.get('$skiptoken');
  const delta = params.get('$deltatoken');
  let cursor: Cursor | undefined;
  try {
    if (skip || (delta && delta !== 'latest')) {
      const c = decodeCursor((skip ?? delta)!, tokenKey);
      if (!c || c.kind !== kind || c.epoch < state.epoch) {
        // Delta-query-overview, "Synchronization reset": after maintenance or a migration, 410 Gone
        // and a Location to start over from.
        // https://learn.microsoft.com/en-us/graph/delta-query-overview#synchronization-reset
        return fail(410, 'syncStateNotFound', 'The sync state generation is not found. The delta token is expired and data must be synchronized again.', { location: initialUrl(kind, c && c.kind === kind ? c : undefined) });
      }
      if (now() - c.issued > LINK_LIFETIME_MS) return fail(400, 'syncStateNotFound', 'The delta token has expired: synchronize again without it.');
      cursor = skip ? c : directory.resume(c);
    } else {
      cursor = directory.begin(directory.parseQuery(kind, params), state.epoch, delta === 'latest');
    }
  } catch (e) {
    if (e instanceof GraphFailure) return fail(e.status, e.code, e.message);
    throw e;
  }
  const size = Math.min(MAX_PAGE, Math.max(1, p.maxPageSize ?? config.pageSize));
  const page = directory.page(cursor, size, config.memberPageSize, p.minimal);
  const issued = now();
  const link = page.next ? { '@odata.nextLink': `${base}/v1.0/${kind}/delta?$skiptoken=${encodeCursor({ ...page.next, issued }, tokenKey)}` } : { '@odata.deltaLink': `${base}/v1.0/${kind}/delta?$deltatoken=${encodeCursor({ ...page.delta!, issued }, tokenKey)}` };
  record({ ...entry, status: 200, auth: 'ok', items: page.value.length, link: page.next ? 'next' : 'delta' });
  served('graph', kind);
  const headers: Record<string, string> = { ...ids.headers, 'content-type': 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8' };
  const applied = [p.maxPageSize !== undefined ? `odata.maxpagesize=${size}` : '', p.minimal && cursor.phase === 'delta' ? 'return=minimal' : ''].filter(Boolean).join(',');
  if (applied) headers['preference-applied'] = applied;
  send(res, 200, { '@odata.context': Directory.context(base, cursor), ...link, value: page.value }, headers);
}

// ---- control API ----

async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
  const body = req.method === 'GET' || req.method === 'DELETE' ? {} : (JSON.parse((await readBody(req)).toString() || '{}') as Record<string, unknown>);
  const hard = url.searchParams.get('hard') === '1' || url.searchParams.get('hard') === 'true';
  const route = `${req.method} ${parts.map((p, i) => (i === 1 ? ':id' : i === 3 ? ':member' : p)).join('/')}`;
  const [, id, , member] = parts;
  const ok = (value: unknown = { ok: true }) => send(res, 200, value);
  switch (route) {
    case 'GET health':
      return ok({ ok: true, idPrefix: config.idPrefix, version: directory.version });
    case 'GET stats':
      return ok(directory.stats());
    case 'POST users': {
      const out: Record<string, unknown> = {};
      if (typeof body.generate === 'number') Object.assign(out, directory.generateUsers(body.generate));
      if (Array.isArray(body.users)) out.ids = (body.users as Record<string, unknown>[]).map((u) => directory.createUser(u));
      return ok(out);
    }
    case 'GET users/:id':
      return ok(directory.getUser(id!));
    case 'PATCH users/:id':
      directory.updateUser(id!, body);
      return ok();
    case 'DELETE users/:id':
      directory.deleteUser(id!, hard);
      return ok();
    case 'POST users/:id/restore':
      directory.restoreUser(id!);
      return ok();
    case 'POST groups': {
      const ids: string[] = [];
      if (typeof body.generate === 'number') ids.push(...directory.generateGroups(body.generate));
      if (Array.isArray(body.groups)) ids.push(...(body.groups as Record<string, unknown>[]).map((g) => directory.createGroup(g)));
      return ok({ ids });
    }
    case 'PATCH groups/:id':
      directory.updateGroup(id!, body);
      return ok();
    case 'DELETE groups/:id':
      directory.deleteGroup(id!, hard);
      return ok();
    case 'POST groups/:id/members':
      directory.addMembers(id!, body.ids as string[]);
      return ok();
    case 'DELETE groups/:id/members/:member':
      directory.removeMember(id!, member!);
      return ok();
    case 'GET faults':
      return ok(faultsNow());
    case 'POST faults':
      setFaults(body as Faults);
      return ok(faultsNow());
    case 'DELETE faults':
      setFaults({ throttle: null, outage: null });
      return ok(faultsNow());
    case 'GET requests': {
      const since = Number(url.searchParams.get('since') ?? 0);
      return ok({ requests: state.log.filter((r) => r.seq > since) });
    }
    case 'DELETE requests':
      state.log = [];
      return ok();
    case 'PUT app':
      if (Array.isArray(body.secrets)) app.secrets = body.secrets as AppRegistration['secrets'];
      if (Array.isArray(body.certificates)) app.certificates = body.certificates as string[];
      if (Array.isArray(body.permissions)) app.permissions = body.permissions as string[];
      return ok();
    default:
      return send(res, 404, { error: { code: 'NotFound', message: `no control route ${req.method} ${url.pathname}` } });
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > 64 * 1024 * 1024) req.destroy(new Error('request body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const at = Date.now();
  const url = new URL(req.url ?? '/', base);
  const path = url.pathname + url.search;
  try {
    if (url.pathname.startsWith('/_emulator/')) return await control(req, res, url);
    if (url.pathname.startsWith('/v1.0/')) return graph(req, res, url, at);
    const t = /^\/([^/]+)\/(oauth2\/v2\.0\/token|v2\.0\/\.well-known\/openid-configuration|discovery\/v2\.0\/keys)$/.exec(url.pathname);
    if (t && t[2] === 'oauth2/v2.0/token') return await token(req, res, decodeURIComponent(t[1]!), path, at);
    if (t && tenantKnown(decodeURIComponent(t[1]!))) {
      record({ at, method: req.method!, path, kind: 'metadata', status: 200 });
      return send(res, 200, t[2] === 'discovery/v2.0/keys' ? jwks(signer) : openidConfiguration(base, app.tenantId));
    }
    record({ at, method: req.method!, path, kind: t ? 'metadata' : 'unknown', status: 404 });
    send(res, 404, { error: 'not_found', error_description: `nothing at ${url.pathname}` });
  } catch (e) {
    if (e instanceof GraphFailure) return send(res, e.status, { error: { code: e.code, message: e.message } });
    if (e instanceof SyntaxError) return send(res, 400, { error: { code: 'BadRequest', message: `invalid JSON: ${e.message}` } });
    process.stderr.write(`entra emulator: ${(e as Error).stack}\n`);
    if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: (e as Error).message } });
  }
}

const server: Server = createServer({ cert: readFileSync(config.certFile), key: readFileSync(config.keyFile) }, (req, res) => void handle(req, res));
server.listen(config.port, '127.0.0.1', () => process.stderr.write(`entra emulator listening on ${base}\n`));
process.on('SIGTERM', () => process.exit(0));
