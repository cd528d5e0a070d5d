// A loopback port nothing listens on (now): for a server a test starts, or for one that is down.
// And waiting, while a server starts, until its port accepts connections.
import { connect, createServer } from 'node:net';
import type { ServerProcess } from './process.js';

/** Ports handed out by this process: the kernel may give a port just closed again, before its first taker listens on it. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        const port = typeof address === 'object' && address ? address.port : 0;
        server.close(() => resolve(port));
      });
    });
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

/** Resolves once the port on 127.0.0.1 accepts; throws with the server's log if it exits or takes over 10 s. */
export async function waitForPort(what: string, server: ServerProcess, port: number): Promise<void> {
  for (let i = 0; !(await listening(port)); i++) {
    if (!server.running() || i > 200) throw new Error(`${what} did not start:\n${server.log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
