// GET over HTTP(S) on kept-alive connections, the body as text. A Graph sync makes a thousand
// requests or more; node's fetch spends about a millisecond of CPU more on each than node:https.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

export interface TextResponse {
  status: number;
  /** A response header by name (any case). */
  header(name: string): string | undefined;
  text: string;
}

export class HttpGetter {
  private readonly agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

  /** Rejects with an error carrying a code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...) when there is no answer. */
  get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<TextResponse> {
    const target = new URL(url);
    const protocol = target.protocol === 'https:' || target.protocol === 'http:' ? target.protocol : undefined;
    if (!protocol) return Promise.reject(new Error(`${target.protocol} URLs are not supported`));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (e: Error) => {
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const req = (protocol === 'https:' ? https : http).get(target, { headers: { 'accept-encoding': 'gzip, br', ...headers }, agent: this.agents[protocol] }, (res) => {
        const encoding = res.headers['content-encoding'];
        const body: Readable = encoding === 'gzip' ? res.pipe(zlib.createGunzip()) : encoding === 'br' ? res.pipe(zlib.createBrotliDecompress()) : res;
        const chunks: Buffer[] = [];
        body.on('data', (c: Buffer) => chunks.push(c));
        body.on('error', fail);
        res.on('error', fail);
        body.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            header: (name) => {
              const v = res.headers[name.toLowerCase()];
              return Array.isArray(v) ? v.join(', ') : v;
            },
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      });
      req.on('error', fail);
      timer = setTimeout(() => fail(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })), timeoutMs);
    });
  }

  /** Closes the connections kept alive. */
  close(): void {
    for (const agent of Object.values(this.agents)) agent.destroy();
  }
}
