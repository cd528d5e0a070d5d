// Mutual TLS: does a server accept our client certificate? One GET, bounded in time.
import https from 'node:https';
import type { KeyObject } from 'node:crypto';

export interface MutualTlsInput {
  url: string;
  key: KeyObject;
  /** PEM: the client certificate and its chain. */
  certificate: string;
  /** PEM: the CAs that sign the server's TLS certificate. */
  ca: string;
  timeoutMs?: number;
}

export function checkMutualTls(input: MutualTlsInput): Promise<{ ok: boolean; message: string }> {
  return new Promise((resolve) => {
    const req = https.request(
      input.url,
      { method: 'GET', key: input.key.export({ type: 'pkcs8', format: 'pem' }), cert: input.certificate, ca: input.ca, timeout: input.timeoutMs ?? 10_000, agent: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        if (code === 401 || code === 403) resolve({ ok: false, message: `the server refused the authentication certificate (HTTP ${code})` });
        else resolve({ ok: true, message: `TLS with the authentication certificate accepted (HTTP ${code})` });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${input.timeoutMs ?? 10_000} ms`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      const handshake = /alert|certificate|handshake|SSL/i.test(e.message) || e.code === 'ECONNRESET';
      resolve({ ok: false, message: handshake ? `TLS handshake failed: ${e.message}` : e.message });
    });
    req.end();
  });
}
