// An HTTPS request to a peer whose certificate is pinned: the TLS handshake is made without
// judging the chain (a pinned peer is often self-signed, and Node would refuse it before asking
// us), the leaf's SHA-256 is compared with the pin on secureConnect, and only a matching
// connection is handed to the request: a mismatch closes it before a byte of the request is written.
// The request goes over that very connection (no agent: an agent, even `agent: false`, would open a
// connection of its own, neither pinned nor presenting the client certificate).
import { request as httpsRequest } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { guardedLookup, hostRefusal, OutboundRefused, type OutboundPolicy } from './outbound.js';
import { normalFingerprint } from './tls-certificate.js';
import { readCapped } from '../util/read-capped.js';

/** What the peer presented: its leaf, for status and the pin to commit. */
export interface PresentedLeaf {
  sha256: string;
  subject: string;
  issuer: string;
  validFrom: string;
  validTo: string;
}

export class PinMismatch extends Error {
  constructor(readonly presented: PresentedLeaf) {
    super(`the peer presented a certificate with SHA-256 ${presented.sha256}, not the pinned one`);
  }
}

/**
 * The peer ended the TLS connection over the client certificate: it asks for one and none was sent
 * (`sent` false), or it refused the one sent (the alert says why, e.g. "unknown ca").
 */
export class ClientCertificateRefused extends Error {
  constructor(
    readonly alert: string,
    readonly sent: boolean,
    readonly presented?: PresentedLeaf,
  ) {
    super(sent ? `the peer refused the client certificate (TLS alert "${alert}")` : `the peer requires a client certificate (TLS alert "${alert}")`);
  }
}

/** The alert of a TLS error the peer sent ("unknown ca", "certificate required"), from Node's code. */
function alertOf(e: unknown): string | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const m = typeof code === 'string' ? /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13)_ALERT_(.+)$/.exec(code) : null;
  return m ? m[1]!.toLowerCase().replaceAll('_', ' ') : undefined;
}

/** Alerts a server sends about the client certificate it was given. */
const CLIENT_CERTIFICATE_ALERTS = new Set(['bad certificate', 'unsupported certificate', 'certificate revoked', 'certificate expired', 'certificate unknown', 'unknown ca', 'access denied', 'decrypt error']);

/** A connection's error as the peer meant it: a TLS alert said in words, not as OpenSSL's trace. */
function peerError(r: PinnedRequest, e: unknown, presented?: PresentedLeaf): unknown {
  const alert = alertOf(e);
  if (!alert) return e;
  if (alert === 'certificate required' || (r.clientCertificate && CLIENT_CERTIFICATE_ALERTS.has(alert))) return new ClientCertificateRefused(alert, !!r.clientCertificate, presented);
  return new Error(`${r.host}:${r.port} ended the TLS connection with the alert "${alert}"`);
}

export interface PinnedRequest {
  host: string;
  port: number;
  /** The pin; undefined: the handshake only reads what is presented (PinMismatch, nothing sent). */
  pinSha256?: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  policy: OutboundPolicy;
  /** Client-certificate security, PEM. */
  clientCertificate?: { cert: string; key: string };
  timeoutMs?: number;
  /** Largest answer read. */
  maxAnswerBytes?: number;
}

export interface PinnedAnswer {
  status: number;
  body: string;
  presented: PresentedLeaf;
}

const leafOf = (socket: TLSSocket): PresentedLeaf | undefined => {
  const c = socket.getPeerX509Certificate();
  return c && { sha256: normalFingerprint(c.fingerprint256), subject: c.subject.replaceAll('\n', ', '), issuer: c.issuer.replaceAll('\n', ', '), validFrom: new Date(c.validFrom).toISOString(), validTo: new Date(c.validTo).toISOString() };
};

/** The TLS connection, once its leaf matches the pin. */
function pinnedSocket(r: PinnedRequest): Promise<{ socket: TLSSocket; presented: PresentedLeaf }> {
  const where = `${r.host}:${r.port}`;
  const timeoutMs = r.timeoutMs ?? 15_000;
  const refused = hostRefusal(r.policy, r.host);
  if (refused) return Promise.reject(new OutboundRefused(refused));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: r.host, port: r.port, servername: r.host, rejectUnauthorized: false, lookup: guardedLookup(r.policy) as never, ...r.clientCertificate });
    const fail = (e: Error) => {
      socket.destroy();
      reject(peerError(r, e));
    };
    socket.setTimeout(timeoutMs, () => fail(new Error(`${where}: no TLS handshake within ${timeoutMs / 1000} s`)));
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      const presented = leafOf(socket);
      if (!presented) return fail(new Error(`${where} presented no certificate`));
      if (!r.pinSha256 || normalFingerprint(r.pinSha256) !== presented.sha256) return fail(new PinMismatch(presented));
      socket.off('error', fail);
      socket.setTimeout(0);
      resolve({ socket, presented });
    });
  });
}

export async function pinnedRequest(r: PinnedRequest): Promise<PinnedAnswer> {
  const { socket, presented } = await pinnedSocket(r);
  const timeoutMs = r.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    const fail = (e: unknown) => {
      socket.destroy();
      reject(peerError(r, e, presented));
    };
    // The connection's own errors are the request's: in TLS 1.3 a server refuses a client
    // certificate (or its absence) with an alert that comes after the handshake ended here.
    socket.on('error', fail);
    const req = httpsRequest({
      host: r.host,
      port: r.port,
      method: r.method,
      path: r.path,
      // One request a connection: each is pinned on its own handshake.
      headers: { ...r.headers, connection: 'close', ...(r.body ? { 'content-length': String(r.body.length) } : {}) },
      // This pinned connection, no other: without an agent, the request takes what createConnection gives.
      createConnection: () => socket,
      // Judged already: the pin matched on this very connection.
      rejectUnauthorized: false,
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${r.host}:${r.port}: no answer within ${timeoutMs / 1000} s`)));
    req.once('error', fail);
    req.once('response', (res) => {
      readCapped(res, r.maxAnswerBytes ?? 1 << 20)
        .then(
          (bytes) => resolve({ status: res.statusCode ?? 0, body: bytes.toString('utf8'), presented }),
          reject,
        )
        .finally(() => socket.destroy());
    });
    req.end(r.body);
  });
}

/** Only what the peer presents: for an untrusted peer's status and `core-sync trust`. Nothing is sent. */
export async function presentedLeaf(host: string, port: number, policy: OutboundPolicy): Promise<PresentedLeaf> {
  // Without a pin, the handshake always ends in PinMismatch, which carries what was presented.
  const e = await pinnedSocket({ host, port, policy, method: 'GET', path: '/', headers: {}, timeoutMs: 5000 }).then(() => undefined, (e: unknown) => e);
  if (e instanceof PinMismatch) return e.presented;
  throw e;
}
