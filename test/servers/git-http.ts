// A private git server over HTTP: git's own http-backend (CGI) behind a small node server that
// demands HTTP basic authentication, as hosted git services do for a token. In the test process:
// the mdmops processes that fetch from it are spawned, never waited on synchronously.
import { execFileSync, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface GitHttpServer {
  url: string;
  /** Requests that carried the right credentials, and those refused. */
  counts: { accepted: number; refused: number };
  close(): Promise<void>;
}

const BACKEND = join(execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim(), 'git-http-backend');

export async function startGitHttp(root: string, username: string, password: string): Promise<GitHttpServer> {
  const counts = { accepted: 0, refused: 0 };
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      counts.refused++;
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end('authentication required\n');
      req.resume();
      return;
    }
    counts.accepted++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const cgi = spawn(BACKEND, [], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: username,
        REMOTE_ADDR: req.socket.remoteAddress ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
    });
    req.pipe(cgi.stdin);
    // CGI output: headers (Status: gives the code), a blank line, then the body.
    let head = Buffer.alloc(0);
    let streaming = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (streaming) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const i = line.indexOf(':');
        const [name, value] = [line.slice(0, i).trim(), line.slice(i + 1).trim()];
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
      streaming = true;
    });
    cgi.on('close', () => res.end());
    cgi.stderr.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
