// GET (and POST) over HTTP(S) on kept-alive connections, the body as text, each connection checked
// against the outbound policy. A Graph sync makes a thousand requests or more; node's fetch spends
// about a millisecond of CPU more on each than node:https. Redirects are never followed.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { guardedLookup, hostRefusal, OutboundRefused, type OutboundPolicy } from './outbound.js';

export interface TextResponse {
  status: number;
  /** A response header by name (any case). */
  header(name: string): string | undefined;
  /** Every header, by lower-case name. */
  headers: Record<string, string>;
  text: string;
}

export class HttpGetter {
  private readonly agents: { 'http:': http.Agent; 'https:': https.Agent };

  /** Without a policy, every address may be reached (a one-tenant command). */
  constructor(private readonly policy: OutboundPolicy = { allowInternal: true }) {
    const lookup = guardedLookup(policy);
    this.agents = { 'http:': new http.Agent({ keepAlive: true, lookup }), 'https:': new https.Agent({ keepAlive: true, lookup }) };
  }

  /** Rejects with an error carrying a code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EREFUSEDTARGET, ...) when there is no answer. */
  get(url: string, headers: Record<string, string>, timeoutMs: number): Promise<TextResponse> {
    return this.request('GET', url, headers, undefined, timeoutMs);
  }

  post(url: string, headers: Record<string, string>, body: string, timeoutMs: number): Promise<TextResponse> {
    return this.request('POST', url, { 'content-length': String(Buffer.byteLength(body)), ...headers }, body, timeoutMs);
  }

  private request(method: string, url: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<TextResponse> {
    const target = new URL(url);
    const protocol = target.protocol === 'https:' || target.protocol === 'http:' ? target.protocol : undefined;
    if (!protocol) return Promise.reject(new Error(`${target.protocol} URLs are not supported`));
    // An address written in the URL is connected to without a lookup: checked here.
    const refused = hostRefusal(this.policy, target.hostname);
    if (refused) return Promise.reject(Object.assign(new OutboundRefused(refused), { code: 'EREFUSEDTARGET' }));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const fail = (e: Error) => {
        clearTimeout(timer);
        req.destroy();
        reject(e);
      };
      const req = (protocol === 'https:' ? https : http).request(target, { method, headers: { 'accept-encoding': 'gzip, br', ...headers }, agent: this.agents[protocol] }, (res) => {
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
            headers: Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')])),
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      });
      req.on('error', fail);
      req.end(body);
      timer = setTimeout(() => fail(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })), timeoutMs);
    });
  }

  /** Closes the connections kept alive. */
  close(): void {
    for (const agent of Object.values(this.agents)) agent.destroy();
  }
}
