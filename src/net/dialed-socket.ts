// A socket for clients that make their own (database drivers): it looks like a net.Socket to them
// (connect(port, host), a 'connect' event, setNoDelay, setKeepAlive), but its bytes go over
// whatever a Dial opens: a connector's tunnel, or a connection the outbound policy checked.
import { connect as netConnect, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Dial } from './dial.js';
import { guardedLookup, hostRefusal, OutboundRefused, type OutboundPolicy } from './outbound.js';

export class DialedSocket extends Duplex {
  private inner?: Duplex;
  /** Writes made before the route is open wait here. */
  private waiting: { chunk: Buffer; done: (e?: Error | null) => void }[] = [];
  /** What the driver asked of setNoDelay, for a route not open yet. */
  private noDelay?: boolean;

  constructor(private readonly dial: Dial) {
    super();
  }

  connect(port: number, host: string): this {
    this.dial(host, port).then(
      (inner) => {
        if (this.destroyed) return void inner.destroy();
        this.inner = inner;
        if (this.noDelay !== undefined) passNoDelay(inner, this.noDelay);
        inner.on('data', (d: Buffer) => {
          if (!this.push(d)) inner.pause();
        });
        inner.on('end', () => this.push(null));
        inner.on('error', (e) => this.destroy(e));
        inner.on('close', () => this.destroy());
        for (const w of this.waiting.splice(0)) inner.write(w.chunk, w.done);
        this.emit('connect');
      },
      (e: Error) => this.destroy(e),
    );
    return this;
  }

  /**
   * Passed on to a TCP socket: pg and mysql2 ask for it, and without it Nagle's algorithm holds the
   * tail of a request back until the server acknowledges its head (up to 40 ms on Linux, a query).
   */
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    if (this.inner) passNoDelay(this.inner, noDelay);
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  override _read(): void {
    this.inner?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void): void {
    this.send(chunk, done);
  }

  /** What a driver wrote corked (pg's Parse, Bind, Describe, Execute and Sync of a query) goes on as one write. */
  override _writev(chunks: { chunk: Buffer }[], done: (e?: Error | null) => void): void {
    this.send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), done);
  }

  private send(chunk: Buffer, done: (e?: Error | null) => void): void {
    if (this.inner) this.inner.write(chunk, done);
    else this.waiting.push({ chunk, done });
  }

  override _final(done: (e?: Error | null) => void): void {
    if (this.inner) this.inner.end(done);
    else done();
  }

  override _destroy(e: Error | null, done: (e?: Error | null) => void): void {
    this.inner?.destroy();
    done(e);
  }
}

/**
 * A socket-like stream over one already open: a tunnel's HTTP/2 stream, handed over by the gateway
 * in the process that holds it, is no socket to the clients (ldapts sets an id on it, node's HTTP
 * client takes it as a connection), where the local socket's connection of a one-shot command is.
 */
export function socketOver(opened: Duplex): Promise<Duplex> {
  if (opened instanceof Socket) return Promise.resolve(opened);
  return new Promise((resolve, reject) => {
    const own = new DialedSocket(() => Promise.resolve(opened)).connect(0, '');
    own.once('error', reject);
    own.once('connect', () => (own.off('error', reject), resolve(own)));
  });
}

/** A TCP socket's setNoDelay; a tunnel's stream has none. */
const passNoDelay = (d: Duplex, on: boolean) => (d as Duplex & { setNoDelay?: (on: boolean) => unknown }).setNoDelay?.(on);

/** A direct connection, where the outbound policy lets it go (its addresses checked as they are resolved). */
export function directDial(policy: OutboundPolicy, timeoutMs = 10_000): Dial {
  return (host, port) =>
    new Promise((resolve, reject) => {
      // An address is not looked up: checked here.
      const refused = hostRefusal(policy, host);
      if (refused) return reject(new OutboundRefused(refused));
      const socket = netConnect({ host, port, lookup: guardedLookup(policy) as never, timeout: timeoutMs });
      const failed = (e: Error) => {
        socket.destroy();
        reject(e);
      };
      socket.once('error', failed);
      socket.once('timeout', () => failed(new Error(`${host}:${port}: no answer within ${timeoutMs / 1000} s`)));
      socket.once('connect', () => {
        socket.off('error', failed);
        socket.setTimeout(0);
        resolve(socket);
      });
    });
}
