// Microsoft Graph v1.0 for a daemon: an app-only token from the Microsoft identity platform by
// client credentials (msal-node, with a secret or a certificate; the token endpoint's 429, 5xx and
// silence tried again, its refusals named by AADSTS code), then GETs (net/http-get.ts) that
// honour Graph's throttling (429 and 503/504 with Retry-After, else exponential backoff), renew an
// expired token once, and follow delta queries from @odata.nextLink to @odata.deltaLink.
import type { ConfidentialClientApplication, Configuration, INetworkModule, NetworkResponse } from '@azure/msal-node';
import { X509Certificate } from 'node:crypto';
import { HttpGetter, type TextResponse } from '../net/http-get.js';
import { OutboundRefused, type OutboundPolicy } from '../net/outbound.js';
import { messageOf } from '../util/message-of.js';

export interface GraphCredentials {
  /** https://login.microsoftonline.com or another cloud's, or a test authority. */
  authorityHost: string;
  tenantId: string;
  clientId: string;
  /** https://graph.microsoft.com or another cloud's. */
  graphEndpoint: string;
  secret?: string;
  certificate?: { certificatePem: string; privateKeyPem: string };
}

/**
 * What went wrong, for the source's notification: Graph or the token endpoint did not answer
 * (Unreachable), refused the app's credentials (AuthFailed), or the app lacks the admin consent
 * to read the directory (PermissionMissing).
 */
export type GraphFailure = 'Unreachable' | 'AuthFailed' | 'PermissionMissing';

export class GraphError extends Error {
  constructor(message: string, readonly status?: number, readonly code?: string, readonly reason: GraphFailure = 'Unreachable') {
    super(message);
  }
}

/** The application permissions a sync needs, with admin consent (user-delta and group-delta, "Permissions"). */
export const REQUIRED_PERMISSIONS = ['User.Read.All', 'GroupMember.Read.All'];

/**
 * The delta link can no longer be followed: it expired (links of users and groups last 7 days, then
 * Graph answers a 40X with syncStateNotFound) or Graph reset the synchronization (410 Gone). Either
 * way the caller starts over with a full read.
 */
export class ResyncRequired extends GraphError {}

/** Error codes of an expired delta link, with any 4xx status (delta query overview, "Token duration"). */
const EXPIRED_LINK_CODES = new Set(['syncStateNotFound', 'syncStateInvalid', 'resyncRequired']);

const MAX_ATTEMPTS = 8;
const MAX_WAIT_MS = 120_000;

export interface GraphOptions {
  sleep?: (ms: number) => Promise<void>;
  /** Page size asked for with Prefer: odata.maxpagesize. */
  pageSize?: number;
  /** Where the token and Graph requests may connect, checked on every connection. */
  outbound?: OutboundPolicy;
}

const TOKEN_TIMEOUT_MS = 30_000;
/** Tries of the token endpoint when it does not answer or answers 429 or 5xx. */
const TOKEN_ATTEMPTS = 4;

/** Why the last token request failed without a refusal from the identity platform. */
interface TokenFailure {
  /** No answer: the connection's error. */
  cause?: unknown;
  /** A transient answer (429, 5xx), its status and Retry-After. */
  status?: number;
  retryAfter?: string;
}

/**
 * msal's requests on our connections, so that the outbound policy checks them too. msal replaces a
 * failed request's error with its own "network_error": the failure is kept in `failed` to say why.
 * A 429 or 5xx is kept from msal the same way, as a failure to retry: msal would otherwise refuse
 * every request for a minute (its throttling cache), and report it as a refusal of the credentials.
 */
function msalNetwork(http: HttpGetter, failed: TokenFailure): INetworkModule {
  const answer = async <T>(pending: Promise<TextResponse>): Promise<NetworkResponse<T>> => {
    const r = await pending.catch((e: unknown) => {
      failed.cause = e;
      throw e;
    });
    if (r.status === 429 || r.status >= 500) {
      failed.status = r.status;
      failed.retryAfter = r.header('retry-after');
      throw new GraphError(`the token endpoint answered ${r.status}${aadstsOf(r.text) ? ` ${aadstsOf(r.text)}` : ''}`, r.status);
    }
    let body: T;
    try {
      body = JSON.parse(r.text) as T;
    } catch {
      throw new GraphError(`the token endpoint answered ${r.status} with no JSON`, r.status);
    }
    return { headers: r.headers, body, status: r.status };
  };
  return {
    sendGetRequestAsync: (url, options, timeout) => answer(http.get(url, options?.headers ?? {}, timeout ?? TOKEN_TIMEOUT_MS)),
    sendPostRequestAsync: (url, options) => answer(http.post(url, options?.headers ?? {}, options?.body ?? '', TOKEN_TIMEOUT_MS)),
  };
}

function thumbprintOf(pem: string): string {
  try {
    return new X509Certificate(pem).fingerprint256.replace(/:/g, '');
  } catch (e) {
    throw new GraphError(`the client certificate is not a PEM certificate (${messageOf(e)})`, undefined, undefined, 'AuthFailed');
  }
}

/** The identity platform's error code (AADSTS7000215, ...) in a text, if any. */
const aadstsOf = (text: string | undefined) => /AADSTS\d+/.exec(text ?? '')?.[0];

export function msalConfiguration(c: GraphCredentials): Configuration {
  const host = new URL(c.authorityHost).host;
  const credential = c.secret !== undefined
    ? { clientSecret: c.secret }
    : {
        clientCertificate: {
          thumbprintSha256: thumbprintOf(c.certificate!.certificatePem),
          privateKey: c.certificate!.privateKeyPem,
          x5c: c.certificate!.certificatePem,
        },
      };
  const authority = `${c.authorityHost.replace(/\/$/, '')}/${c.tenantId}`;
  return {
    auth: {
      clientId: c.clientId,
      authority,
      ...credential,
      // msal asks nothing before the token: the authority is known and its endpoints are those
      // every Microsoft identity platform authority has (as its OpenID configuration gives them).
      knownAuthorities: [host],
      authorityMetadata: JSON.stringify({
        token_endpoint: `${authority}/oauth2/v2.0/token`,
        authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
        jwks_uri: `${authority}/discovery/v2.0/keys`,
        issuer: `${authority}/v2.0`,
      }),
    },
  };
}

/** Seconds or an HTTP date, as Retry-After allows; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export class GraphClient {
  /** Made here, so that bad credentials (a certificate that is none) fail at once, not at the first request. */
  private readonly config: Configuration;
  /** Made at the first token: msal takes some 70 ms to load, which commands that never sync need not pay. */
  private app?: Promise<ConfidentialClientApplication>;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly scope: string;
  private readonly http: HttpGetter;

  constructor(private readonly credentials: GraphCredentials, private readonly options: GraphOptions = {}) {
    this.http = new HttpGetter(options.outbound);
    this.config = { ...msalConfiguration(credentials), system: { networkClient: msalNetwork(this.http, this.tokenFailure) } };
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.scope = `${credentials.graphEndpoint.replace(/\/$/, '')}/.default`;
  }

  /** The token in use, kept here too: msal's cache lookup costs a millisecond a request, and a sync makes hundreds. */
  private held?: { token: string; renewAt: number };
  /** Why the last token request had no answer, or a transient one. */
  private readonly tokenFailure: TokenFailure = {};

  /**
   * msal asks for a new token shortly before it expires; renew (after a 401) skips its cache. No
   * answer, 429 and 5xx are tried again (after Retry-After, else backing off); a refusal is not.
   */
  private token(renew: boolean): Promise<string> {
    if (!renew && this.held && Date.now() < this.held.renewAt) return Promise.resolve(this.held.token);
    // The users' and the groups' walks ask at once: one request (and its retries) serves both.
    this.acquiring ??= this.acquire(renew).finally(() => (this.acquiring = undefined));
    return this.acquiring;
  }

  private acquiring?: Promise<string>;

  private async acquire(renew: boolean): Promise<string> {
    this.app ??= import('@azure/msal-node').then((msal) => new msal.ConfidentialClientApplication(this.config));
    const app = await this.app;
    for (let attempt = 1; ; attempt++) {
      const failure = this.tokenFailure;
      failure.cause = failure.status = failure.retryAfter = undefined;
      try {
        const result = await app.acquireTokenByClientCredential({ scopes: [this.scope], skipCache: renew });
        if (!result?.accessToken) throw new Error('the token endpoint returned no access token');
        // Back to msal five minutes before expiry, as its own cache would refresh it.
        const expires = result.expiresOn?.getTime() ?? 0;
        this.held = { token: result.accessToken, renewAt: expires - 5 * 60_000 };
        return result.accessToken;
      } catch (e) {
        const where = `the token endpoint of ${this.credentials.authorityHost}`;
        if (failure.cause !== undefined || failure.status !== undefined) {
          // The outbound policy's refusal stays a refusal: no new try.
          const refused = failure.cause instanceof OutboundRefused;
          if (attempt < TOKEN_ATTEMPTS && !this.closed && !refused) {
            await this.sleep(Math.min(MAX_WAIT_MS, retryAfterMs(failure.retryAfter ?? null) ?? 500 * 2 ** (attempt - 1)));
            continue;
          }
          const why = refused ? `: ${messageOf(failure.cause)}` : `${failure.cause !== undefined ? ` gave no answer (${causeOf(failure.cause)})` : ` answered ${failure.status}`}, ${attempt} times`;
          throw new GraphError(`${where}${why}`, failure.status, (failure.cause as { code?: string } | undefined)?.code);
        }
        const err = e as { errorCode?: string; errorMessage?: string; message: string };
        // AADSTS messages name the problem (bad secret, unknown app) and never repeat the credential.
        const message = err.errorMessage ?? err.message;
        const code = aadstsOf(message) ?? err.errorCode;
        const detail = message.split(/\r?\n/)[0]!.replace(/^AADSTS\d+:\s*/, '');
        throw new GraphError(`Entra ID refused the app's credentials${code ? ` (${code})` : ''}: ${detail}`, undefined, code, 'AuthFailed');
      }
    }
  }

  private closed = false;

  /** Closes the connections to Graph kept open between requests; no request is made after. */
  close(): void {
    this.closed = true;
    this.http.close();
  }

  /** GET a Graph URL (absolute, or a path under /v1.0), the body as text. */
  private async getText(url: string): Promise<string> {
    const full = url.startsWith('https://') ? url : `${this.credentials.graphEndpoint.replace(/\/$/, '')}/v1.0${url}`;
    let renewed = false;
    for (let attempt = 1; ; attempt++) {
      // A request still on its way when the round ended (a page read ahead, the other walk of a
      // failed round) is not tried again.
      if (this.closed) throw new GraphError('the sync round has ended');
      let res: TextResponse;
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${await this.token(false)}`, accept: 'application/json' };
        if (this.options.pageSize) headers.prefer = `odata.maxpagesize=${this.options.pageSize}`;
        res = await this.http.get(full, headers, 60_000);
      } catch (e) {
        if (e instanceof GraphError) throw e; // from the token: already tried again as it should be
        if (attempt >= 3) throw new GraphError(`cannot reach ${new URL(full).host}: ${causeOf(e)}`);
        await this.sleep(500 * 2 ** attempt);
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res.text;
      const body = errorBody(res.text);
      const code = body.error?.code;
      const message = `Graph answered ${res.status}${code ? ` ${code}` : ''}${body.error?.message ? `: ${body.error.message}` : ''}`;
      if (res.status === 410 || (res.status >= 400 && res.status < 500 && code && EXPIRED_LINK_CODES.has(code))) throw new ResyncRequired(message, res.status, code);
      if (res.status === 403 && code === 'Authorization_RequestDenied') {
        // Without admin consent for the app's permissions, Graph refuses every read: no retry helps.
        // https://learn.microsoft.com/en-us/graph/resolve-auth-errors
        throw new GraphError(`${message} (${new URL(full).pathname}): the app lacks admin consent for the application permissions ${REQUIRED_PERMISSIONS.join(' and ')}`, 403, code, 'PermissionMissing');
      }
      if (res.status === 401 && !renewed) {
        // The token expired or was revoked before msal thought so: one new token, then give up.
        renewed = true;
        await this.token(true);
        continue;
      }
      const throttled = res.status === 429 || res.status === 503 || res.status === 504;
      if (!throttled || attempt >= MAX_ATTEMPTS) throw new GraphError(`${message} (${new URL(full).pathname})`, res.status, code);
      await this.sleep(Math.min(MAX_WAIT_MS, retryAfterMs(res.header('retry-after') ?? null) ?? 1000 * 2 ** (attempt - 1)));
    }
  }

  /**
   * Follows a delta query: each page's items go to onPage; returns the deltaLink for next time.
   * A page may be empty; a page never carries both links.
   *
   * The next page is asked for before this one is handled, so Graph prepares it meanwhile; and, as
   * Graph writes @odata.nextLink ahead of the page's value, before this one is even parsed. Should
   * the link found ahead not be the page's own, the page's own is asked for.
   */
  async delta(firstUrl: string, onPage: (items: Record<string, unknown>[]) => void): Promise<string> {
    const request = (url: string) => {
      const text = this.getText(url);
      text.catch(() => undefined); // awaited when its turn comes; a page that fails to be handled first must not leave it unhandled
      return text;
    };
    // Node writes a request on a later turn of the event loop: one is let by before this page is
    // parsed and handled, else Graph would only see the request once the page is done.
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    let url = firstUrl;
    let pending = request(url);
    for (;;) {
      const text = await pending;
      const ahead = leadingNextLink(text);
      if (ahead) {
        pending = request(ahead);
        await turn();
      }
      let page: Record<string, unknown>;
      try {
        page = JSON.parse(text) as Record<string, unknown>;
      } catch (e) {
        throw new GraphError(`a delta page of ${new URL(url, this.credentials.graphEndpoint).pathname} is not JSON (${messageOf(e)}): was it cut short?`);
      }
      const next = page['@odata.nextLink'];
      const delta = page['@odata.deltaLink'];
      if (typeof delta !== 'string' && typeof next === 'string' && next !== ahead) {
        pending = request(next);
        await turn();
      }
      onPage((page.value as Record<string, unknown>[] | undefined) ?? []);
      if (typeof delta === 'string') return delta;
      if (typeof next !== 'string') throw new GraphError(`a delta page of ${new URL(url, this.credentials.graphEndpoint).pathname} carries neither @odata.nextLink nor @odata.deltaLink`);
      url = next;
    }
  }
}

/** @odata.nextLink when a page's JSON names it among its first members (before value), else undefined. */
export function leadingNextLink(text: string): string | undefined {
  const head = text.slice(0, 4096);
  const value = head.indexOf('"value"');
  const at = head.indexOf('"@odata.nextLink"');
  if (at < 0 || (value >= 0 && value < at)) return undefined;
  const m = /^"@odata\.nextLink"\s*:\s*("(?:[^"\\]|\\.)*")/.exec(head.slice(at));
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string;
  } catch {
    return undefined; // a link that is not a JSON string: the page is then read whole
  }
}

/** Why a request had no answer: the system's code (ECONNREFUSED, ...), or the token's refusal. */
function causeOf(e: unknown): string {
  if (e instanceof GraphError) return e.message;
  const err = e as { code?: string; message?: string };
  return err.code ?? err.message ?? String(e);
}

/** Graph's error body, or nothing when the answer is not one. */
function errorBody(text: string): { error?: { code?: string; message?: string } } {
  try {
    const body = JSON.parse(text) as unknown;
    return body && typeof body === 'object' ? body : {};
  } catch {
    return {}; // not JSON (a proxy's HTML page): the status code says the rest
  }
}
