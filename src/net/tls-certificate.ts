// The certificate a TLS server presents, for pinning: the handshake is made without judging the
// chain (a pinned peer is often self-signed), the SHA-256 fingerprint of the leaf is read, and the
// connection is closed before a byte is written. Bounded in time.
import { connect } from 'node:tls';
import { guardedLookup, hostRefusal, type OutboundPolicy } from './outbound.js';

export type Presented = { ok: true; sha256: string } | { ok: false; message: string };

/** Lower-case hex without colons, as pins are written. */
export const normalFingerprint = (fingerprint: string) => fingerprint.replace(/:/g, '').toLowerCase();

export function presentedCertificate(host: string, port: number, policy: OutboundPolicy, timeoutMs = 5000): Promise<Presented> {
  const where = `${host}:${port}`;
  const refused = hostRefusal(policy, host);
  if (refused) return Promise.resolve({ ok: false, message: refused });
  return new Promise((resolve) => {
    const socket = connect({ host, port, servername: host, rejectUnauthorized: false, lookup: guardedLookup(policy) as never });
    const done = (answer: Presented) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done({ ok: false, message: `${where}: no TLS handshake within ${timeoutMs} ms` }));
    socket.once('secureConnect', () => {
      const certificate = socket.getPeerX509Certificate();
      done(certificate ? { ok: true, sha256: normalFingerprint(certificate.fingerprint256) } : { ok: false, message: `${where} presented no certificate` });
    });
    socket.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, message: e.code === 'EREFUSEDTARGET' ? e.message : `${where}: ${e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' ? 'host name does not resolve' : e.code === 'ECONNREFUSED' ? 'connection refused' : e.message}` }));
  });
}
