// The web console: server-rendered HTML over what the store holds, for the long-running modes
// (--console-listen). No anonymous access: a console token signs in once, then an HttpOnly,
// SameSite=Strict session cookie (Secure over TLS) carries the session; every form carries the
// session's CSRF token; a strict Content-Security-Policy allows nothing but this origin's stylesheet.
// Console actions go to the audit log with the token's name.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { SecretResolver } from '../../config/secrets.js';
import { idKey } from '../../config/desired.js';
import { recordReferences, show, type Engine } from '../../engine/context.js';
import { syncWithFollowers } from '../../engine/scheduled-sync.js';
import type { Logger } from '../../observe/log.js';
import { messageOf } from '../../util/message-of.js';
import { readCapped, TooLarge } from '../../util/read-capped.js';
import { escapeHtml } from './html.js';
import { LIVE_JS } from './live.js';
import { CONSOLE_CSS } from './style.js';
import { reachedUsers, spaceOf, type Distribution, type SpaceMembers } from '../../providers/certificate-configuration/index.js';
import { certificatesPage, connectorsPage, coreSyncPage, distributionPage, masked, notificationsPage, overviewPage, PAGE_SIZE, resourceFilter, resourcePage, RESOURCES_CSV_HEADER, resourcesCsvLines, resourcesPage, signInPage, usersPage, type Viewer } from './pages.js';
import { diffValues } from '../../engine/diff.js';
import type { RecordQuery } from '../../store/types.js';
import { stillValid, tokenOf, type Role } from './tokens.js';

export interface ConsoleOptions {
  host: string;
  port: number;
  engine: Engine;
  secrets: SecretResolver;
  log: Logger;
  /** PEM: served over TLS, and the cookie marked Secure. */
  tls?: { cert: string; key: string };
  /** Another way to sign in (the controller: a Kubernetes bearer token); its sessions last an hour. */
  externalSignIn?: (token: string) => Promise<{ name: string; role: Role } | undefined>;
  /** The connector gateway's log collection, where this process serves the gateway (the controller's leader). */
  connectorLogs?: () => ConnectorLogs | undefined;
}

export interface LogCollectionState {
  state: string;
  name?: string;
  size?: number;
  error?: string;
}

/** What the console asks of the connector gateway: its agents' log collection (seed 000). */
export interface ConnectorLogs {
  requestLogs(tenant: string, name: string): Promise<LogCollectionState>;
  cancelLogs(tenant: string, name: string): Promise<LogCollectionState | undefined>;
  logs(tenant: string, name: string): LogCollectionState | undefined;
  downloadLogs(tenant: string, name: string): Promise<{ name: string; stream: NodeJS.ReadableStream }>;
}

interface Session extends Viewer {
  tokenId: string;
  expiresAt: number;
}

const COOKIE = 'mdmops_console';
/**
 * The sign-in form's CSRF token, also held in a cookie of its own: a form posted from another site
 * carries no SameSite=Strict cookie, so nobody can be signed in with someone else's token unawares.
 */
const SIGN_IN_COOKIE = 'mdmops_console_sign_in';
const SESSION_MS = 8 * 3600_000;
/** Sessions signed in by another way (a Kubernetes token): their token id's prefix, and how long they last. */
const EXTERNAL = 'external:';
const EXTERNAL_SESSION_MS = 3600_000;
const MAX_FORM = 16 * 1024;
/** Audit entries shown on a resource's page, newest first. */
const HISTORY = 200;
/** Status fields of a record that syncs from a source: the overview lists it with its last sync. */
const SOURCE_FIELDS = ['lastSyncTime', 'userCount'];
/** Active notifications the overview shows, the newest; the notifications page has them all. */
const OVERVIEW_NOTIFICATIONS = 20;

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function serveConsole(o: ConsoleOptions): Promise<{ port: number; close(): Promise<void> }> {
  const sessions = new Map<string, Session>();
  const secure = !!o.tls;
  const store = o.engine.store;

  const send = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void =>
    void res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...headers }).end(body);
  const redirect = (res: ServerResponse, to: string, headers: Record<string, string> = {}): void => void res.writeHead(303, { location: to, ...SECURITY_HEADERS, ...headers }).end();
  const cookie = (value: string, maxAgeS: number, name = COOKIE) => `${name}=${value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secure ? '; Secure' : ''}`;
  const cookieOf = (req: IncomingMessage, name: string) => new RegExp(`(?:^|;\\s*)${name}=([A-Za-z0-9_-]+)`).exec(req.headers.cookie ?? '')?.[1];
  /**
   * The sign-in form, with its CSRF token in it and in its cookie: the browser's own if it has one
   * (a second sign-in page loaded meanwhile, by a favicon's redirect, must not orphan the first).
   */
  const sendSignIn = (req: IncomingMessage, res: ServerResponse, status: number, error?: string) => {
    const csrf = cookieOf(req, SIGN_IN_COOKIE) ?? randomBytes(24).toString('base64url');
    send(res, status, signInPage(csrf, error), { 'set-cookie': cookie(csrf, 3600, SIGN_IN_COOKIE) });
  };
  const audit = (action: string, who: string, target: { tenant: string; kind: string; name: string }, detail: Record<string, unknown> = {}) =>
    store.commit([{ op: 'audit', entry: { at: new Date().toISOString(), ...target, action, source: 'console', revision: '', actor: `console:${who}`, detail } }]);

  /** A sign-in by another way, as a token entry of its own that ends within the hour. */
  const externalToken = async (given: string) => {
    const who = await o.externalSignIn?.(given).catch((e: unknown) => {
      o.log.warn({ err: messageOf(e) }, 'console: a sign-in could not be checked');
      return undefined;
    });
    return who && { id: `${EXTERNAL}${who.name}`, name: who.name, role: who.role, expiresAt: new Date(Date.now() + EXTERNAL_SESSION_MS).toISOString() };
  };

  const gatewayLogs = (): ConnectorLogs => {
    const gateway = o.connectorLogs?.();
    if (!gateway) throw new HttpError(409, 'the connector gateway is not served here (--gateway-listen; in the controller, by its leader)');
    return gateway;
  };
  /** The gateway's refusals (no agent connected, nothing collected) are the user's to fix: 409, with its words. */
  const asConflict = (e: unknown): never => {
    throw new HttpError(409, messageOf(e));
  };

  async function sessionOf(req: IncomingMessage): Promise<Session | undefined> {
    const sid = cookieOf(req, COOKIE);
    const session = sid ? sessions.get(sid) : undefined;
    if (!session) return undefined;
    // A revoked or expired token ends its sessions at once (an external one at its hour's end).
    if (session.expiresAt <= Date.now() || (!session.tokenId.startsWith(EXTERNAL) && !(await stillValid(store, session.tokenId)))) {
      sessions.delete(sid!);
      return undefined;
    }
    return session;
  }

  async function form(req: IncomingMessage): Promise<URLSearchParams> {
    const body = await readCapped(req, MAX_FORM).catch((e: unknown) => {
      throw e instanceof TooLarge ? new HttpError(413, 'the form is too large') : e;
    });
    return new URLSearchParams(body.toString('utf8'));
  }

  const csrfMatches = (fields: URLSearchParams, expected: string) => {
    const given = Buffer.from(fields.get('csrf') ?? '');
    return given.length === expected.length && timingSafeEqual(given, Buffer.from(expected));
  };
  const checkCsrf = (session: Session, fields: URLSearchParams) => {
    if (!csrfMatches(fields, session.csrf)) throw new HttpError(403, 'this form has no valid CSRF token: reload the page and try again');
  };

  /** The CSV of exactly the filtered rows, written a chunk at a time as the store reads them. */
  async function streamCsv(res: ServerResponse, filter: RecordQuery): Promise<void> {
    res.writeHead(200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': 'attachment; filename="resources.csv"', ...SECURITY_HEADERS });
    res.write(RESOURCES_CSV_HEADER);
    await store.forEachRecordSummary(filter, async (rows) => {
      // A reader that went away ends the export; one that is slow holds it back.
      if (!res.write(resourcesCsvLines(rows))) await Promise.race([once(res, 'drain'), once(res, 'close')]);
      if (res.destroyed) throw new Error('the CSV export was not read to its end');
    });
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    if (req.method === 'GET' && path === '/ui/static/live.js') return void res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS, 'cache-control': 'max-age=3600' }).end(LIVE_JS);
    if (req.method === 'GET' && path === '/ui/static/console.css') return void res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', ...SECURITY_HEADERS, 'cache-control': 'max-age=3600' }).end(CONSOLE_CSS);
    if (path === '/' || path === '/ui') return redirect(res, '/ui/');
    if (req.method === 'GET' && path === '/ui/sign-in') return sendSignIn(req, res, 200);
    if (req.method === 'POST' && path === '/ui/sign-in') {
      const fields = await form(req);
      const expected = cookieOf(req, SIGN_IN_COOKIE);
      if (!expected || !csrfMatches(fields, expected)) return sendSignIn(req, res, 403, 'This sign-in form has expired or was sent from another page: sign in again.');
      const given = fields.get('token') ?? '';
      const token = given.startsWith('mdc_') ? await tokenOf(store, given) : await externalToken(given);
      if (!token) {
        o.log.warn({ from: req.socket.remoteAddress }, 'console: a sign-in with an unknown or expired token was refused');
        return sendSignIn(req, res, 401, 'That token is unknown, revoked or expired.');
      }
      const sid = randomBytes(24).toString('base64url');
      const expiresAt = Math.min(Date.parse(token.expiresAt), Date.now() + SESSION_MS);
      sessions.set(sid, { tokenId: token.id, name: token.name, role: token.role, csrf: randomBytes(24).toString('base64url'), expiresAt });
      await audit('console-sign-in', token.name, { tenant: '', kind: 'Console', name: token.name }, { role: token.role });
      return redirect(res, '/ui/', { 'set-cookie': cookie(sid, Math.floor((expiresAt - Date.now()) / 1000)) });
    }

    const session = await sessionOf(req);
    if (!session) return req.method === 'GET' ? redirect(res, '/ui/sign-in') : sendSignIn(req, res, 401, 'Sign in first.');

    if (req.method === 'POST') {
      const fields = await form(req);
      checkCsrf(session, fields);
      if (path === '/ui/sign-out') {
        for (const [sid, s] of sessions) if (s === session) sessions.delete(sid);
        await audit('console-sign-out', session.name, { tenant: '', kind: 'Console', name: session.name });
        return redirect(res, '/ui/sign-in', { 'set-cookie': cookie('', 0) });
      }
      const logs = /^\/ui\/connectors\/([^/]+)\/([^/]+)\/logs$/.exec(path);
      if (logs) {
        if (session.role !== 'manager') throw new HttpError(403, 'a System Read-Only session cannot act: sign in with a manager token');
        const [tenant, name] = logs.slice(1).map(decodeURIComponent) as [string, string];
        const gateway = gatewayLogs();
        const cancel = fields.get('do') === 'cancel';
        await (cancel ? gateway.cancelLogs(tenant, name) : gateway.requestLogs(tenant, name)).catch(asConflict);
        await audit(cancel ? 'console-cancel-logs' : 'console-request-logs', session.name, { tenant, kind: 'Connector', name });
        return redirect(res, '/ui/connectors');
      }
      const action = /^\/ui\/resources\/([^/]+)\/([^/]+)\/([^/]+)\/sync$/.exec(path);
      if (action) {
        if (session.role !== 'manager') throw new HttpError(403, 'a System Read-Only session cannot act: sign in with a manager token');
        const [tenant, kind, name] = action.slice(1).map(decodeURIComponent) as [string, string, string];
        const record = await store.getRecord({ tenant, kind, name });
        if (!record) throw new HttpError(404, `${show({ tenant, kind, name })} is not in the tenant store`);
        if (!o.engine.providers.get(kind).sync) throw new HttpError(400, `${kind} has nothing to sync`);
        const runs = await syncWithFollowers(o.engine, o.secrets, record, { actor: `console:${session.name}`, force: true });
        await audit('console-sync', session.name, { tenant, kind, name }, { results: runs.map((r) => `${r.source}: ${r.report.error ?? r.report.blocked ?? r.report.summary ?? 'synced'}`) });
        return redirect(res, `/ui/resources/${action.slice(1).join('/')}`);
      }
      throw new HttpError(404, `no such action: ${path}`);
    }

    if (req.method !== 'GET') throw new HttpError(405, `${req.method} is not served here`);
    if (path === '/ui/') {
      const [counts, latest, active] = await Promise.all([store.countRecords(), store.listNotifications({ active: true, limit: OVERVIEW_NOTIFICATIONS }), store.countNotifications({ active: true })]);
      // Sources: the records of the kinds that sync, once they have synced.
      const syncing = counts.kinds.filter((kind) => o.engine.providers.kinds.includes(kind) && o.engine.providers.get(kind).sync);
      const sources = (await Promise.all(syncing.map((kind) => store.listRecords({ kind })))).flat().filter((r) => SOURCE_FIELDS.some((f) => r.status[f] !== undefined));
      return send(res, 200, overviewPage(session, counts, sources, latest, active));
    }
    if (path === '/ui/notifications') {
      const all = url.searchParams.get('all') === '1';
      return send(res, 200, notificationsPage(session, await store.listNotifications(all ? {} : { active: true }), all));
    }
    if (path === '/ui/resources' || path === '/ui/resources.csv') {
      const { page, ...filter } = resourceFilter(url.searchParams);
      if (path.endsWith('.csv')) return streamCsv(res, filter);
      const [counts, first] = await Promise.all([store.countRecords(), store.listRecordSummaries({ ...filter, offset: (page - 1) * PAGE_SIZE, limit: PAGE_SIZE })]);
      // A page past the last shows the last (a filter narrowed since the link was made).
      const last = Math.max(1, Math.ceil(first.total / PAGE_SIZE));
      const shown = page > last ? await store.listRecordSummaries({ ...filter, offset: (last - 1) * PAGE_SIZE, limit: PAGE_SIZE }) : first;
      return send(res, 200, resourcesPage(session, shown.rows, shown.total, counts, { ...filter, page }));
    }
    if (path === '/ui/distribution') {
      const { tenants } = await store.countRecords();
      const tenant = url.searchParams.get('tenant') || (tenants.includes('default') ? 'default' : (tenants[0] ?? 'default'));
      const [users, spaceRecords, configurations] = await Promise.all([store.listUsers(tenant), store.listRecords({ tenant, kind: 'Space' }), store.listRecords({ tenant, kind: 'CertificateConfiguration' })]);
      const spaces = spaceRecords.map((s) => ({ name: s.name, ...(s.spec as Omit<SpaceMembers, 'name'>) }));
      const home = new Map(users.map((u) => [u.id, spaceOf(u, spaces) ?? '']));
      const rows = configurations.map((c) => {
        const reached = reachedUsers(c.spec as unknown as Distribution, users, spaces);
        const bySpace = new Map<string, number>();
        for (const u of reached) bySpace.set(home.get(u.id)!, (bySpace.get(home.get(u.id)!) ?? 0) + 1);
        return { configuration: c, reached: reached.length, reachedBySpace: bySpace };
      });
      const spaceRows = spaceRecords.map((s) => ({ space: s, users: [...home.values()].filter((h) => h === s.name).length }));
      return send(res, 200, distributionPage(session, tenant, tenants, rows, spaceRows));
    }
    if (path === '/ui/connectors') {
      const gateway = o.connectorLogs?.();
      const collection = (r: { tenant: string; name: string }) => {
        try {
          return gateway?.logs(r.tenant, r.name);
        } catch {
          return undefined; // no agent connected here: the status says what is known
        }
      };
      return send(res, 200, connectorsPage(session, await store.listRecords({ kind: 'Connector' }), collection, !!gateway));
    }
    const zip = /^\/ui\/connectors\/([^/]+)\/([^/]+)\/logs\.zip$/.exec(path);
    if (zip) {
      if (session.role !== 'manager') throw new HttpError(403, 'only a System Manager may download connector logs');
      const [tenant, name] = zip.slice(1).map(decodeURIComponent) as [string, string];
      const file = await gatewayLogs().downloadLogs(tenant, name).catch(asConflict);
      await audit('console-download-logs', session.name, { tenant, kind: 'Connector', name }, { file: file.name });
      res.writeHead(200, { 'content-type': 'application/zip', 'content-disposition': `attachment; filename="${file.name.replace(/[^\w.-]/g, '_')}"`, ...SECURITY_HEADERS });
      file.stream.pipe(res);
      return;
    }
    if (path === '/ui/core-sync') return send(res, 200, coreSyncPage(session, await store.listRecords({ kind: 'CoreSyncTarget' })));
    if (path === '/ui/certificates') {
      return send(res, 200, certificatesPage(session, await store.listRecords({ kind: 'CertificateAuthority' }), await store.listCertificateFacts({}), Date.now()));
    }
    if (path === '/ui/users') {
      const tenant = url.searchParams.get('tenant') || undefined;
      const text = url.searchParams.get('q') || undefined;
      const asked = Math.max(1, Number(url.searchParams.get('page')) || 1);
      const { users, total } = await store.listUsersPage({ tenant, text, offset: (asked - 1) * PAGE_SIZE, limit: PAGE_SIZE });
      const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
      return send(res, 200, usersPage(session, users, total, { tenant, q: text, page: Math.min(asked, pages), pages }));
    }
    const ca = /^\/ui\/ca\/([^/]+)\/([^/]+)\.pem$/.exec(path);
    if (ca) {
      const [tenant, name] = ca.slice(1).map(decodeURIComponent) as [string, string];
      const pem = (await store.getRecord({ tenant, kind: 'CertificateAuthority', name }))?.status.certificate;
      if (typeof pem !== 'string') throw new HttpError(404, `CertificateAuthority/${name} has no certificate yet`);
      return send(res, 200, pem, { 'content-type': 'application/x-pem-file', 'content-disposition': `attachment; filename="${name}.pem"` });
    }
    const one = /^\/ui\/resources\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
    if (one) {
      const [tenant, kind, name] = one.slice(1).map(decodeURIComponent) as [string, string, string];
      const record = await store.getRecord({ tenant, kind, name });
      if (!record) throw new HttpError(404, `${show({ tenant, kind, name })} is not in the tenant store`);
      const key = idKey(record);
      // What references it holds its name somewhere in its spec: those few are read, then checked.
      const [inventory, notifications, audit, mentioning, syncHistory, applied] = await Promise.all([store.getInventory(record), store.listNotifications({ id: record }), store.listAudit(HISTORY, record), store.listRecordsMentioning(tenant, name), store.listSyncHistory(record), store.getAppliedSpec(record)]);
      return send(
        res,
        200,
        resourcePage(session, {
          record,
          inventory,
          notifications,
          audit,
          referencedBy: mentioning.filter((r) => recordReferences(r).includes(key)),
          syncs: !!o.engine.providers.get(kind).sync,
          syncHistory,
          drift: applied ? diffValues(masked(applied), masked(record.spec), 'spec') : [],
        }),
      );
    }
    throw new HttpError(404, `no page ${path}`);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse) =>
    void handle(req, res).catch((e: unknown) => {
      if (res.headersSent) return void res.destroy(); // a stream cut short: the reader sees it was
      const status = e instanceof HttpError ? e.status : 500;
      if (status === 500) o.log.error({ err: messageOf(e) }, 'console: a page failed');
      send(res, status, `<!doctype html><title>${status}</title><p>${status === 500 ? 'This page failed; the server log says why.' : escapeHtml(messageOf(e))}</p>`);
    });
  const server: Server = o.tls ? createHttpsServer({ cert: o.tls.cert, key: o.tls.key }, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info({ host: o.host, port, tls: secure }, `console on ${secure ? 'https' : 'http'}://${o.host}:${port}/ui/`);
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
