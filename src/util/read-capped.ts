// A message body (a request's or an answer's) read whole, up to a cap: past it reading stops, so
// a stray or hostile peer cannot fill memory. One reader for the server and the clients alike.
import type { IncomingMessage } from 'node:http';

export class TooLarge extends Error {}

/** The body, or TooLarge as soon as it (or the Content-Length it announces) passes max bytes. */
export async function readCapped(message: IncomingMessage, max: number): Promise<Buffer> {
  if (Number(message.headers['content-length'] ?? 0) > max) throw new TooLarge(`larger than ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of message as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new TooLarge(`larger than ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
