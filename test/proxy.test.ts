// The connector agent's way out through a customer's HTTP proxy, against a real tinyproxy: a tunnel
// with the right credentials carries bytes both ways (none lost after the proxy's answer), and each
// refusal is a ProxyError with the proxy's status and a message an administrator can act on, naming
// the proxy without its password. A few cases tinyproxy cannot be made to produce (one write holding
// the answer and the first bytes, a head too large, silence) use a TCP server standing in for it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bypassesProxy, connectThroughProxy, ProxyError } from '../src/net/proxy.js';
import { freePort } from './servers/ports.js';
import { startTinyproxy, type Tinyproxy } from './servers/tinyproxy.js';
import { makeServerCertificate } from './servers/tls.js';

const USER = 'agent';
const PASSWORD = 'Pr0xy-s3cret_pw';
const WRONG_PASSWORD = 'wr0ng-s3cret_pw';
const SECRETS = [PASSWORD, WRONG_PASSWORD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'), Buffer.from(`${USER}:${WRONG_PASSWORD}`).toString('base64')];
/** What the destination says as soon as a connection opens, as SSH and SMTP servers do. */
const BANNER = 'hello from the destination\n';
const PING = 'ping\n';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Writes a line and resolves with all the socket received up to its echo: bytes lost before it show
 * as a difference, not as a wait.
 */
function roundTrip(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.endsWith(PING)) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => reject(new Error(`the connection ended after ${JSON.stringify(got)}`)));
    socket.write(PING);
  });
}

/** The ProxyError an attempt rejects with, checked to hold no secret. */
async function proxyErrorOf(attempt: Promise<Socket>): Promise<ProxyError> {
  const outcome = await attempt.then(
    (socket) => {
      socket.destroy();
      return new Error('the connection was made');
    },
    (e: unknown) => e,
  );
  expect(outcome).toBeInstanceOf(ProxyError);
  const error = outcome as ProxyError;
  for (const secret of SECRETS) expect(error.message).not.toContain(secret);
  return error;
}

describe('connectThroughProxy through tinyproxy', () => {
  let destination: Server;
  let destinationPort: number;
  let withAuth: Tinyproxy;
  let otherPortsOnly: Tinyproxy;

  beforeAll(async () => {
    // Greets, then echoes.
    destination = createServer((socket) => {
      socket.on('error', () => {}); // a test that ends its tunnel abruptly resets this side
      socket.write(BANNER);
      socket.pipe(socket);
    });
    destinationPort = await listen(destination);
    withAuth = await startTinyproxy({ user: USER, password: PASSWORD });
    otherPortsOnly = await startTinyproxy({ connectPorts: [destinationPort === 443 ? 444 : 443] });
  });

  afterAll(async () => {
    await withAuth?.stop();
    await otherPortsOnly?.stop();
    if (destination) await close(destination);
  });

  it('with the right credentials, carries bytes both ways, the first the destination sent included', async () => {
    const socket = await connectThroughProxy({ url: withAuth.url, username: USER, password: PASSWORD }, '127.0.0.1', destinationPort);
    try {
      expect(await roundTrip(socket)).toBe(BANNER + PING);
    } finally {
      socket.destroy();
    }
  });

  it('carries TLS started on the tunnel, as the agent does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-proxy-'));
    const tls = await makeServerCertificate(dir, 'Proxy test CA');
    const tlsDestination = createTlsServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (socket) => {
      socket.on('error', () => {}); // the test ends its tunnel abruptly
      socket.write(BANNER);
      socket.pipe(socket);
    });
    try {
      const port = await listen(tlsDestination);
      const tunnel = await connectThroughProxy({ url: withAuth.url, username: USER, password: PASSWORD }, '127.0.0.1', port);
      const secure = tlsConnect({ socket: tunnel, ca: tls.caPem, servername: 'localhost' });
      try {
        expect(await roundTrip(secure)).toBe(BANNER + PING);
        expect(secure.authorized).toBe(true);
      } finally {
        secure.destroy();
      }
    } finally {
      await close(tlsDestination);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes credentials from the URL, and the explicit ones over them', async () => {
    const inUrl = `http://${USER}:${PASSWORD}@127.0.0.1:${withAuth.port}`;
    const fromUrl = await connectThroughProxy({ url: inUrl }, '127.0.0.1', destinationPort);
    expect(await roundTrip(fromUrl)).toBe(BANNER + PING);
    fromUrl.destroy();

    const wrongInUrl = `http://${USER}:${WRONG_PASSWORD}@127.0.0.1:${withAuth.port}`;
    const explicit = await connectThroughProxy({ url: wrongInUrl, password: PASSWORD }, '127.0.0.1', destinationPort);
    expect(await roundTrip(explicit)).toBe(BANNER + PING);
    explicit.destroy();
  });

  it('with wrong credentials, says the proxy refused them', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: withAuth.url, username: USER, password: WRONG_PASSWORD }, '127.0.0.1', destinationPort));
    // tinyproxy 1.11 answers wrong credentials with 401, not 407 (tinyproxy issue #532, changed after 1.11).
    expect(error.status).toBe(401);
    expect(error.message).toBe(
      `proxy ${withAuth.url} refused CONNECT to 127.0.0.1:${destinationPort}: 401 Unauthorized (the proxy refused the credentials given: check the user and password in httpProxy.credentialsSecretRef)`,
    );
  });

  it('with a password in the URL that is wrong, names the proxy without it', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: `http://${USER}:${WRONG_PASSWORD}@127.0.0.1:${withAuth.port}` }, '127.0.0.1', destinationPort));
    expect(error.message).toContain(`proxy ${withAuth.url} refused CONNECT`);
    expect(error.message).toContain('refused the credentials');
  });

  it('without credentials, says the proxy wants them', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: withAuth.url }, '127.0.0.1', destinationPort));
    expect(error.status).toBe(407);
    expect(error.message).toBe(
      `proxy ${withAuth.url} refused CONNECT to 127.0.0.1:${destinationPort}: 407 Proxy Authentication Required (the proxy wants credentials: set httpProxy.credentialsSecretRef)`,
    );
  });

  it('to a port the proxy does not allow, says so with its 403', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: otherPortsOnly.url }, '127.0.0.1', destinationPort));
    expect(error.status).toBe(403);
    expect(error.message).toBe(
      `proxy ${otherPortsOnly.url} refused CONNECT to 127.0.0.1:${destinationPort}: 403 Access violation (the proxy does not allow this destination or port)`,
    );
  });

  it('to a destination the proxy cannot reach, passes on its 500', async () => {
    const closed = await freePort();
    const error = await proxyErrorOf(connectThroughProxy({ url: withAuth.url, username: USER, password: PASSWORD }, '127.0.0.1', closed));
    expect(error.status).toBe(500);
    expect(error.message).toBe(`proxy ${withAuth.url} refused CONNECT to 127.0.0.1:${closed}: 500 Unable to connect`);
  });

  it('when nothing listens on the proxy port, says the proxy is unreachable', async () => {
    const closed = await freePort();
    const error = await proxyErrorOf(connectThroughProxy({ url: `http://${USER}:${PASSWORD}@127.0.0.1:${closed}` }, '127.0.0.1', destinationPort));
    expect(error.status).toBeUndefined();
    expect(error.message).toBe(`proxy http://127.0.0.1:${closed} unreachable: connection refused`);
  });

  it('refuses an https:// proxy, naming it without its password', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: `https://${USER}:${PASSWORD}@127.0.0.1:${withAuth.port}` }, '127.0.0.1', destinationPort));
    expect(error.status).toBeUndefined();
    expect(error.message).toBe(
      `proxy https://127.0.0.1:${withAuth.port}: https:// proxies (TLS to the proxy itself) are not supported: give the proxy's http:// address`,
    );
  });

  it('refuses a proxy URL that is not one, without repeating it', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: `${USER}:${PASSWORD}` }, '127.0.0.1', destinationPort));
    expect(error.message).toBe('the proxy URL must start with http:// (it starts with agent:)');
    const broken = await proxyErrorOf(connectThroughProxy({ url: `http://${USER}:${PASSWORD}@[::1` }, '127.0.0.1', destinationPort));
    expect(broken.message).toBe('the proxy URL is not a valid URL (expected http://host:port)');
  });
});

describe('connectThroughProxy against a stand-in proxy', () => {
  /**
   * A TCP server that answers every connection with `answer` in one write once the request head is
   * in, and echoes what follows the head.
   */
  async function standIn(answer: Buffer | undefined): Promise<{ url: string; requests: string[]; stop(): Promise<void> }> {
    const requests: string[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        if (head.endsWith('\r\n\r\n')) return socket.write(chunk);
        head += chunk.toString('latin1');
        if (!head.endsWith('\r\n\r\n')) return;
        requests.push(head);
        if (answer) socket.write(answer);
      });
    });
    const port = await listen(server);
    return {
      url: `http://127.0.0.1:${port}`,
      requests,
      async stop() {
        for (const socket of sockets) socket.destroy();
        await close(server);
      },
    };
  }

  it('writes CONNECT with Host and Basic credentials, and keeps the bytes that came with the answer', async () => {
    const proxy = await standIn(Buffer.from(`HTTP/1.1 200 Connection established\r\nVia: stand-in\r\n\r\n${BANNER}`));
    try {
      const socket = await connectThroughProxy({ url: proxy.url, username: USER, password: PASSWORD }, 'gw.example', 8443);
      expect(await roundTrip(socket)).toBe(BANNER + PING);
      socket.destroy();
      const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
      expect(proxy.requests).toEqual([`CONNECT gw.example:8443 HTTP/1.1\r\nHost: gw.example:8443\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`]);
    } finally {
      await proxy.stop();
    }
  });

  it('puts an IPv6 destination in brackets, and sends no credentials when it has none', async () => {
    const proxy = await standIn(Buffer.from('HTTP/1.0 200 OK\r\n\r\n'));
    try {
      (await connectThroughProxy({ url: proxy.url }, '[2001:db8::5]', 636)).destroy();
      (await connectThroughProxy({ url: proxy.url }, '2001:db8::5', 636)).destroy();
      expect(proxy.requests).toEqual(Array(2).fill('CONNECT [2001:db8::5]:636 HTTP/1.1\r\nHost: [2001:db8::5]:636\r\n\r\n'));
    } finally {
      await proxy.stop();
    }
  });

  it('refuses a destination that would break the request line', async () => {
    const error = await proxyErrorOf(connectThroughProxy({ url: 'http://127.0.0.1:1' }, 'gw.example\r\nX-Injected: 1', 443));
    expect(error.message).toContain('not a host and port');
  });

  it('gives up on an answer whose head passes 16 KiB', async () => {
    const proxy = await standIn(Buffer.from(`HTTP/1.1 200 OK\r\nX-Padding: ${'x'.repeat(17_000)}\r\n\r\n`));
    try {
      const error = await proxyErrorOf(connectThroughProxy({ url: proxy.url }, 'gw.example', 443));
      expect(error.message).toBe(`proxy ${proxy.url} answered CONNECT gw.example:443 with a head larger than 16384 bytes`);
    } finally {
      await proxy.stop();
    }
  });

  it('gives up on a proxy that says nothing, after the timeout', async () => {
    const proxy = await standIn(undefined);
    try {
      const error = await proxyErrorOf(connectThroughProxy({ url: proxy.url }, 'gw.example', 443, { timeoutMs: 200 }));
      expect(error.message).toBe(`proxy ${proxy.url} did not answer CONNECT gw.example:443 within 0.2 s`);
    } finally {
      await proxy.stop();
    }
  });

  it('stops when aborted, with the reason given', async () => {
    const proxy = await standIn(undefined);
    try {
      const controller = new AbortController();
      const attempt = connectThroughProxy({ url: proxy.url }, 'gw.example', 443, { signal: controller.signal });
      while (proxy.requests.length === 0) await new Promise((r) => setTimeout(r, 10));
      const reason = new Error('the agent is stopping');
      controller.abort(reason);
      await expect(attempt).rejects.toBe(reason);
      await expect(connectThroughProxy({ url: proxy.url }, 'gw.example', 443, { signal: controller.signal })).rejects.toBe(reason);
    } finally {
      await proxy.stop();
    }
  });

  it('says what a proxy that does not speak HTTP answered with', async () => {
    const proxy = await standIn(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    try {
      const error = await proxyErrorOf(connectThroughProxy({ url: proxy.url }, 'gw.example', 443));
      expect(error.message).toBe(`proxy ${proxy.url} answered CONNECT gw.example:443 with something other than HTTP`);
    } finally {
      await proxy.stop();
    }
  });
});

describe('bypassesProxy', () => {
  it.each([
    ['a plain name matches itself', 'example.com', 443, ['example.com'], true],
    ['a plain name matches its subdomains', 'api.eu.example.com', 443, ['example.com'], true],
    ['a plain name does not match a name that ends with it', 'notexample.com', 443, ['example.com'], false],
    ['a leading dot matches the domain itself', 'example.com', 443, ['.example.com'], true],
    ['a leading dot matches subdomains', 'api.example.com', 443, ['.example.com'], true],
    ['a leading dot matches no other domain', 'example.org', 443, ['.example.com'], false],
    ['*. is a leading dot', 'api.example.com', 443, ['*.example.com'], true],
    ['* matches everything', 'anything.test', 1, ['*'], true],
    ['an address matches itself', '10.1.2.3', 443, ['10.1.2.3'], true],
    ['an address matches no other', '10.1.2.4', 443, ['10.1.2.3'], false],
    ['an address entry matches no name (nothing is resolved)', 'localhost', 443, ['127.0.0.1'], false],
    ['an IPv6 address matches itself however written', '0:0::1', 443, ['::1'], true],
    ['an IPv6 entry may be in brackets', '::1', 443, ['[::1]'], true],
    ['an IPv4 CIDR matches inside', '10.200.0.1', 443, ['10.0.0.0/8'], true],
    ['an IPv4 CIDR does not match outside', '11.0.0.1', 443, ['10.0.0.0/8'], false],
    ['an IPv6 CIDR matches inside', 'fd00::1', 443, ['fd00::/8'], true],
    ['an IPv6 CIDR matches a bracketed host', '[fd12:3456::1]', 443, ['fd00::/8'], true],
    ['an IPv6 CIDR does not match outside', 'fe80::1', 443, ['fd00::/8'], false],
    ['a CIDR matches no name', 'example.com', 443, ['10.0.0.0/8'], false],
    ['name:port matches that port', 'example.com', 8443, ['example.com:8443'], true],
    ['name:port matches no other port', 'example.com', 443, ['example.com:8443'], false],
    ['address:port matches that port', '10.1.2.3', 636, ['10.1.2.3:636'], true],
    ['address:port matches no other port', '10.1.2.3', 389, ['10.1.2.3:636'], false],
    ['[IPv6]:port matches that port', '[::1]', 8080, ['[::1]:8080'], true],
    ['[IPv6]:port matches no other port', '::1', 80, ['[::1]:8080'], false],
    ['the host is compared without case', 'API.Example.COM', 443, ['example.com'], true],
    ['the entry is compared without case', 'api.example.com', 443, ['EXAMPLE.Com'], true],
    ['a trailing dot on the host is ignored', 'example.com.', 443, ['example.com'], true],
    ['spaces around an entry are ignored', 'example.com', 443, [' example.com '], true],
    ['one entry of several matches', 'ldap.corp.test', 636, ['example.com', '10.0.0.0/8', 'corp.test'], true],
    ['no entry matches', 'ldap.corp.test', 636, ['example.com', '10.0.0.0/8'], false],
    ['an empty list matches nothing', 'example.com', 443, [], false],
  ])('%s', (_what, host, port, noProxy, expected) => {
    expect(bypassesProxy(host, port, noProxy)).toBe(expected);
  });

  it('matches nothing without a list', () => {
    expect(bypassesProxy('example.com', 443)).toBe(false);
  });
});
