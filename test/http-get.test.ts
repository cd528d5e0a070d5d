// HttpGetter, the GET that reads Graph's pages, against a local HTTP server: compressed and plain
// bodies (a character split across chunks), headers, and the errors a sync reports.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpGetter } from '../src/net/http-get.js';

const BODY = JSON.stringify({ value: [{ displayName: 'Zoë Müller', city: '東京' }] });
let server: Server;
let base: string;
const seen: { encoding?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ encoding: req.headers['accept-encoding'] });
    const path = req.url ?? '/';
    if (path === '/gzip') return res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(BODY));
    if (path === '/br') return res.writeHead(200, { 'content-encoding': 'br' }).end(brotliCompressSync(BODY));
    if (path === '/throttled') return res.writeHead(429, { 'Retry-After': '7' }).end('{"error":{"code":"TooManyRequests"}}');
    if (path === '/silent') return; // never answers
    // Plain, in two chunks that cut "ë" (two bytes in UTF-8) in half.
    const bytes = Buffer.from(BODY);
    const cut = bytes.indexOf(Buffer.from('ë')) + 1;
    res.writeHead(200);
    res.write(bytes.subarray(0, cut));
    setTimeout(() => res.end(bytes.subarray(cut)), 20);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('HttpGetter', () => {
  const http = new HttpGetter();
  afterAll(() => http.close());

  it('reads plain, gzip and br bodies as the same text', async () => {
    for (const path of ['/plain', '/gzip', '/br']) {
      const res = await http.get(`${base}${path}`, { accept: 'application/json' }, 5_000);
      expect(res.status).toBe(200);
      expect(res.text).toBe(BODY);
    }
    expect(seen.at(-1)!.encoding).toBe('gzip, br');
  });

  it('gives an error status with its headers, by any case of their names', async () => {
    const res = await http.get(`${base}/throttled`, {}, 5_000);
    expect(res.status).toBe(429);
    expect(res.header('Retry-After')).toBe('7');
    expect(res.header('retry-after')).toBe('7');
    expect(res.header('x-none')).toBeUndefined();
  });

  it('fails with a code when nothing answers in time, or nothing listens', async () => {
    await expect(http.get(`${base}/silent`, {}, 200)).rejects.toMatchObject({ code: 'ETIMEDOUT', message: 'no answer within 0.2 s' });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(http.get(`http://127.0.0.1:${port}/`, {}, 5_000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(http.get('ftp://127.0.0.1/', {}, 5_000)).rejects.toThrow('ftp: URLs are not supported');
  });
});
