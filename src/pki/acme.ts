// An ACME (RFC 8555) client: account creation (with external account binding) and certificate
// issuance with http-01, on top of acme-client. What this module adds to it:
// - trust for a private CA's TLS certificate per call (caPem), without NODE_EXTRA_CA_CERTS;
// - an http-01 responder of its own, up only while the order's authorizations are validated;
// - errors as AcmeError of three kinds, with the CA's reason and never a key in the message.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Agent, get as httpsGet, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { rootCertificates } from 'node:tls';
import type acme from 'acme-client';
import { guardedLookup, hostRefusal, type OutboundPolicy } from '../net/outbound.js';
import { messageOf } from '../util/message-of.js';

/**
 * - unreachable: no (trusted) connection to the CA: refused, DNS, timeout, TLS certificate not trusted;
 * - rejected: the CA said no: an ACME problem document, or a challenge it found invalid;
 * - protocol: anything else: unusable input, an answer that is not what RFC 8555 says, no http-01 challenge offered.
 */
export type AcmeErrorKind = 'unreachable' | 'rejected' | 'protocol';

export class AcmeError extends Error {
  constructor(message: string, readonly kind: AcmeErrorKind) {
    super(message);
    this.name = 'AcmeError';
  }
}

export interface AcmeAccountInput {
  directoryUrl: string;
  email: string;
  termsOfServiceAgreed: boolean;
  /** PKCS#8 (or SEC1/PKCS#1) PEM: EC P-256, P-384, P-521 or RSA of at least 2048 bits. */
  accountKeyPem: string;
  /** As the CA hands it out: a key id and a base64url HMAC key. Sent on account creation only. */
  externalAccountBinding?: { keyId: string; hmacKey: string };
  /** Extra trust anchors (PEM) for the CA's TLS certificate, added to Node's built-in roots, for this call only. */
  caPem?: string;
  /** Where this call's connections may go (net/outbound.ts); by default anywhere. */
  outbound?: OutboundPolicy;
}

export interface AcmeOrderInput extends AcmeAccountInput {
  /** The CSR (DER); its names should be dnsNames. */
  csrDer: Buffer;
  dnsNames: string[];
  /** Where to answer http-01: the CA connects to <name>:80 (or what it is configured for) and that must reach here. */
  http01: { port: number; host?: string };
}

const REQUEST_TIMEOUT_MS = 30_000;
/** Polling of authorizations and orders: 0.25 s doubling to 5 s, about a minute in all. */
const BACKOFF = { backoffAttempts: 16, backoffMin: 250, backoffMax: 5_000 };

// ---------------------------------------------------------------------------------------------
// Per-call state. acme-client sends everything through one shared axios instance and offers no
// per-client agent, so the calls of this module run inside an AsyncLocalStorage context that
// interceptors on that instance read: the TLS agent to use, and what the last request got back
// (acme-client turns problem documents into bare Errors and loses network errors altogether).

interface Problem { status: number; type: string; detail: string }

interface CallContext {
  agent: RecordingAgent;
  outbound: OutboundPolicy;
  /** URL of a request sent that has had no response yet. */
  pending?: string;
  /** The problem document of the last response, if it was one. */
  problem?: Problem;
  secrets: string[];
}

/** An https.Agent that remembers the last socket error (refused, TLS trust...), which axios' retry handling in acme-client drops. */
class RecordingAgent extends Agent {
  lastError?: Error & { code?: string };

  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    socket?.once('error', (e: Error) => { this.lastError = e; });
    return socket;
  }
}

const context = new AsyncLocalStorage<CallContext>();

let loaded: Promise<typeof acme> | undefined;

/** acme-client, loaded at the first ACME call (it takes some 140 ms to load), its one axios instance given the interceptors. */
function acmeClient(): Promise<typeof acme> {
  loaded ??= import('acme-client').then(({ default: lib }) => {
    lib.axios.interceptors.request.use((config) => {
      const ctx = context.getStore();
      if (ctx) {
        // Every URL the directory hands out is checked as the directory was: https, and an address
        // the policy allows (a name is checked by the agent's lookup when it connects); no redirect.
        const target = new URL(config.url ?? '', config.baseURL);
        if (target.protocol !== 'https:') throw new AcmeError(`the ACME server sent mdmops to ${target.origin}: only https is used`, 'protocol');
        const refused = hostRefusal(ctx.outbound, target.hostname);
        if (refused) throw new AcmeError(refused, 'unreachable');
        config.maxRedirects = 0;
        config.httpsAgent = ctx.agent;
        // The directory check below goes direct; so does everything else, rather than via an *_PROXY variable.
        config.proxy = false;
        config.timeout ||= REQUEST_TIMEOUT_MS;
        ctx.pending = config.url;
      }
      return config;
    });

    lib.axios.interceptors.response.use((response) => {
      const ctx = context.getStore();
      if (ctx) {
        ctx.pending = undefined;
        const data = response.data as { type?: unknown; detail?: unknown } | undefined;
        ctx.problem = response.status >= 400
          ? { status: response.status, type: typeof data?.type === 'string' ? data.type : '', detail: typeof data?.detail === 'string' ? data.detail : '' }
          : undefined;
      }
      return response;
    });
    return lib;
  });
  return loaded;
}

function redact(text: string, secrets: string[]): string {
  let out = text.replace(/-----BEGIN [^-]*-----[\s\S]*?(-----END [^-]*-----|$)/g, '[PEM]');
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join('[redacted]');
  return out.replace(/\s+/g, ' ').trim().slice(0, 500);
}

function fail(ctx: CallContext, message: string, kind: AcmeErrorKind): never {
  throw new AcmeError(redact(message, ctx.secrets), kind);
}

function networkReason(e: (Error & { code?: string }) | undefined): string {
  if (!e) return 'no response';
  const code = e.code ?? '';
  if (code === 'EREFUSEDTARGET') return e.message;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) return `TLS certificate not trusted (${code}${code === 'ERR_TLS_CERT_ALTNAME_INVALID' ? '' : '; pass caPem'})`;
  return code || e.message;
}

/** Runs one protocol step; whatever goes wrong becomes an AcmeError naming the step. */
async function step<T>(ctx: CallContext, name: string, fn: () => Promise<T>): Promise<T> {
  ctx.problem = undefined;
  ctx.pending = undefined;
  ctx.agent.lastError = undefined;
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AcmeError) throw e;
    // Set by the interceptors meanwhile (TypeScript still narrows them to the undefined set above).
    const problem = ctx.problem as Problem | undefined;
    const pending = ctx.pending as string | undefined;
    if (problem) {
      const type = problem.type.replace(/^urn:ietf:params:acme:error:/, '');
      const hint = type === 'externalAccountRequired' ? ': the CA requires an external account binding (externalAccountBinding: keyId and hmacKey from the CA)' : '';
      fail(ctx, `the CA rejected ${name}${hint}: ${problem.detail || `HTTP ${problem.status}`}${type ? ` (${type})` : ''}`, 'rejected');
    }
    if (pending) fail(ctx, `${name}: no answer from ${origin(pending)}: ${networkReason(ctx.agent.lastError)}`, 'unreachable');
    fail(ctx, `${name}: ${messageOf(e)}`, 'protocol');
  }
}

function origin(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url; // not a URL: shown as given
  }
}

// ---------------------------------------------------------------------------------------------
// Input checks and the directory.

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function checkAccountKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new AcmeError('accountKeyPem is not a readable PEM private key', 'protocol');
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec' && ['prime256v1', 'secp384r1', 'secp521r1'].includes(details.namedCurve ?? '')) return key;
  if (key.asymmetricKeyType === 'rsa' && (details.modulusLength ?? 0) >= 2048) return key;
  throw new AcmeError(`account key must be EC P-256/P-384/P-521 or RSA >= 2048 bits, not ${key.asymmetricKeyType}${details.namedCurve ? ` ${details.namedCurve}` : ''}${details.modulusLength ? ` ${details.modulusLength}` : ''}`, 'protocol');
}

function makeContext(input: AcmeAccountInput): CallContext {
  let url: URL;
  try {
    url = new URL(input.directoryUrl);
  } catch {
    throw new AcmeError(`directoryUrl is not a URL: ${input.directoryUrl}`, 'protocol');
  }
  if (url.protocol !== 'https:') throw new AcmeError(`directoryUrl must be https (RFC 8555 §6.1): ${url.origin}`, 'protocol');
  const outbound = input.outbound ?? { allowInternal: true };
  const refused = hostRefusal(outbound, url.hostname);
  if (refused) throw new AcmeError(`directory ${url.origin}: ${refused}`, 'unreachable');
  checkAccountKey(input.accountKeyPem);
  const extra = input.caPem ? input.caPem.match(PEM_CERT) ?? [] : [];
  if (input.caPem !== undefined) {
    try {
      if (!extra.length) throw new Error('none');
      for (const pem of extra) new X509Certificate(pem);
    } catch {
      throw new AcmeError('caPem holds no readable PEM certificate', 'protocol');
    }
  }
  const secrets = [input.externalAccountBinding?.hmacKey ?? ''];
  // keepAlive off: no sockets outlive the call.
  const agent = new RecordingAgent({ ...(extra.length ? { ca: [...rootCertificates, ...extra] } : {}), keepAlive: false, lookup: guardedLookup(outbound) });
  return { agent, outbound, secrets };
}

/**
 * GET the directory directly first: acme-client retries a connection error 5 times over 75 s and
 * then loses its cause, where an unreachable or untrusted CA should fail at once and say why.
 */
function checkDirectory(ctx: CallContext, directoryUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(directoryUrl, { agent: ctx.agent, timeout: REQUEST_TIMEOUT_MS, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { if (body.length < 1_000_000) body += chunk; });
      res.on('error', (e) => reject(new AcmeError(`directory ${origin(directoryUrl)}: ${networkReason(e)}`, 'unreachable')));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new AcmeError(`directory ${directoryUrl} answered HTTP ${res.statusCode}`, 'protocol'));
        let dir: Record<string, unknown>;
        try {
          dir = JSON.parse(body) as Record<string, unknown>;
        } catch {
          return reject(new AcmeError(`directory ${directoryUrl} is not JSON`, 'protocol'));
        }
        const missing = ['newNonce', 'newAccount', 'newOrder'].filter((k) => typeof dir[k] !== 'string');
        if (missing.length) return reject(new AcmeError(`directory ${directoryUrl} is not an ACME directory (no ${missing.join(', ')})`, 'protocol'));
        resolve();
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => reject(new AcmeError(`directory ${origin(directoryUrl)}: ${networkReason(e)}`, 'unreachable')));
  });
}

async function newClient(input: AcmeAccountInput): Promise<acme.Client> {
  const lib = await acmeClient();
  return new lib.Client({
    directoryUrl: input.directoryUrl,
    accountKey: input.accountKeyPem,
    ...(input.externalAccountBinding ? { externalAccountBinding: { kid: input.externalAccountBinding.keyId, hmacKey: input.externalAccountBinding.hmacKey } } : {}),
    ...BACKOFF,
  });
}

/** Finds the account of this key, or creates it; then makes its contact the given email. */
async function ensureAccount(ctx: CallContext, client: acme.Client, input: AcmeAccountInput): Promise<string> {
  const contact = [`mailto:${input.email}`];
  let account: { contact?: string[] } | undefined;
  try {
    account = await step(ctx, 'account lookup', () => client.createAccount({ onlyReturnExisting: true }));
  } catch (e) {
    if (!(e instanceof AcmeError && e.kind === 'rejected' && /accountDoesNotExist/.test(e.message))) throw e;
  }
  if (!account) {
    await step(ctx, 'newAccount', () => client.createAccount({ termsOfServiceAgreed: input.termsOfServiceAgreed, contact }));
  } else if (JSON.stringify(account.contact ?? []) !== JSON.stringify(contact)) {
    await step(ctx, 'account update', () => client.updateAccount({ contact }));
  }
  return client.getAccountUrl();
}

export async function acmeAccount(input: AcmeAccountInput): Promise<{ accountUrl: string }> {
  const ctx = makeContext(input);
  return context.run(ctx, async () => {
    try {
      await checkDirectory(ctx, input.directoryUrl);
      const accountUrl = await ensureAccount(ctx, await newClient(input), input);
      return { accountUrl };
    } finally {
      ctx.agent.destroy();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Issuance.

/**
 * Serves /.well-known/acme-challenge/<token>; anything else is 404. Orders running at once share
 * one listener per address (they cannot each bind the port); it closes when the last one is done.
 */
interface Responder {
  server: Promise<Server>;
  answers: Map<string, string>;
  users: number;
}
const responders = new Map<string, Responder>();

async function startResponder(ctx: CallContext, port: number, host: string, answers: Map<string, string>): Promise<() => Promise<void>> {
  const where = `${host}:${port}`;
  let r = responders.get(where);
  if (!r) {
    const shared = new Map<string, string>();
    const prefix = '/.well-known/acme-challenge/';
    const server = createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      const answer = req.method === 'GET' && path.startsWith(prefix) ? shared.get(path.slice(prefix.length)) : undefined;
      if (answer === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(answer) }).end(answer);
    });
    const listening = new Promise<Server>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(server));
    });
    r = { server: listening, answers: shared, users: 0 };
    responders.set(where, r);
    listening.catch(() => responders.delete(where));
  }
  const responder = r;
  responder.users++;
  for (const [token, answer] of answers) responder.answers.set(token, answer);
  const release = async () => {
    for (const token of answers.keys()) responder.answers.delete(token);
    if (--responder.users > 0) return;
    if (responders.get(where) === responder) responders.delete(where);
    const server = await responder.server.catch(() => undefined); // it never listened: nothing to close
    if (server) await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  };
  try {
    await responder.server;
  } catch (e) {
    await release();
    fail(ctx, `cannot serve http-01 on ${where}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`, 'protocol');
  }
  return release;
}

function derToPem(der: Buffer, label: string): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

type Authorization = acme.Authorization;

/** Waits for an authorization to turn valid; when it does not, says why with the challenge's error. */
async function waitForAuthorization(ctx: CallContext, client: acme.Client, authz: Authorization): Promise<void> {
  const name = authz.identifier.value;
  try {
    await step(ctx, `validation of ${name}`, () => client.waitForValidStatus(authz));
    return;
  } catch (e) {
    if ((e as AcmeError).kind === 'unreachable') throw e;
  }
  const [now] = await step(ctx, `authorization of ${name}`, () => client.getAuthorizations({ authorizations: [authz.url] } as acme.Order));
  const error = now?.challenges.find((c) => c.type === 'http-01')?.error as { detail?: string; type?: string } | undefined;
  if (now?.status === 'invalid' || error) {
    const type = (error?.type ?? '').replace(/^urn:ietf:params:acme:error:/, '');
    fail(ctx, `the CA found http-01 for ${name} invalid: ${error?.detail ?? 'no reason given'}${type ? ` (${type})` : ''}`, 'rejected');
  }
  fail(ctx, `authorization of ${name} is still ${now?.status ?? 'unknown'} after polling`, 'protocol');
}

/** Waits for a finalized order to turn valid; when it does not, says why with the order's error. */
async function waitForOrder(ctx: CallContext, client: acme.Client, order: acme.Order): Promise<acme.Order> {
  try {
    return await step(ctx, 'order completion', () => client.waitForValidStatus(order));
  } catch (e) {
    if ((e as AcmeError).kind === 'unreachable') throw e;
  }
  const now = await step(ctx, 'order', () => client.getOrder(order));
  const error = now.error as { detail?: string; type?: string } | undefined;
  if (now.status === 'invalid') {
    const type = (error?.type ?? '').replace(/^urn:ietf:params:acme:error:/, '');
    fail(ctx, `the CA gave up the order: ${error?.detail ?? 'no reason given'}${type ? ` (${type})` : ''}`, 'rejected');
  }
  fail(ctx, `the order is still ${now.status} after polling`, 'protocol');
}

export async function acmeIssue(input: AcmeOrderInput): Promise<{ chainPem: string }> {
  if (!input.dnsNames.length) throw new AcmeError('dnsNames is empty', 'protocol');
  if (!Buffer.isBuffer(input.csrDer) || input.csrDer[0] !== 0x30) throw new AcmeError('csrDer is not a DER CSR', 'protocol');
  const ctx = makeContext(input);
  return context.run(ctx, async () => {
    try {
      await checkDirectory(ctx, input.directoryUrl);
      const client = await newClient(input);
      await ensureAccount(ctx, client, input);

      const order = await step(ctx, 'newOrder', () => client.createOrder({ identifiers: input.dnsNames.map((value) => ({ type: 'dns', value })) }));
      if (order.status !== 'pending' && order.status !== 'ready') fail(ctx, `new order is ${order.status}, expected pending or ready`, 'protocol');
      const authorizations = await step(ctx, 'authorizations', () => client.getAuthorizations(order));

      // Authorizations the CA reused from earlier orders may be valid already; only pending ones need an answer.
      const pending: { authz: Authorization; challenge: acme.Authorization['challenges'][number] }[] = [];
      for (const authz of authorizations) {
        const name = authz.identifier.value;
        if (authz.status === 'valid') continue;
        if (authz.status !== 'pending') fail(ctx, `authorization of ${name} is ${authz.status}`, 'rejected');
        const challenge = authz.challenges.find((c) => c.type === 'http-01');
        if (!challenge) fail(ctx, `the CA offers no http-01 challenge for ${name} (offers: ${authz.challenges.map((c) => c.type).join(', ') || 'none'})`, 'protocol');
        pending.push({ authz, challenge });
      }

      if (pending.length) {
        const answers = new Map<string, string>();
        for (const { challenge } of pending) answers.set(challenge.token, await client.getChallengeKeyAuthorization(challenge));
        const release = await startResponder(ctx, input.http01.port, input.http01.host ?? '0.0.0.0', answers);
        try {
          for (const { authz, challenge } of pending) {
            await step(ctx, `http-01 challenge for ${authz.identifier.value}`, () => client.completeChallenge(challenge));
          }
          for (const { authz } of pending) await waitForAuthorization(ctx, client, authz);
        } finally {
          await release();
        }
      }

      const csrPem = derToPem(input.csrDer, 'CERTIFICATE REQUEST');
      const finalized = await step(ctx, 'finalize', () => client.finalizeOrder(order, csrPem));
      const done = await waitForOrder(ctx, client, finalized);
      const chain = await step(ctx, 'certificate download', () => client.getCertificate(done));

      const certs = (typeof chain === 'string' ? chain : '').match(PEM_CERT) ?? [];
      if (!certs.length) fail(ctx, 'the certificate download holds no PEM certificate', 'protocol');
      try {
        for (const pem of certs) new X509Certificate(pem);
      } catch {
        fail(ctx, 'the certificate download holds an unreadable certificate', 'protocol');
      }
      return { chainPem: certs.map((c) => `${c}\n`).join('') };
    } finally {
      ctx.agent.destroy();
    }
  });
}
