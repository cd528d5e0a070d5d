// A small LDAPS proxy in front of a Samba AD DC that adds the one Active Directory behaviour Samba
// 4.17 lacks: range retrieval of attribute values (MS-ADTS 3.1.1.3.1.3.3, "Range Retrieval of
// Attribute Values"). Samba sends a group of 1,600 members whole, and answers nothing for
// `member;range=0-*`; Active Directory sends at most MaxValRange values (1,500 by default, MS-ADTS
// 3.1.1.3.4.6) of any attribute at once: a group's member, a user's memberOf (a back link, ranged
// alike), any other. Everything else is Samba's own answer, byte for byte.
//
// What the section says, and this proxy does:
// - a client asks for a range by an option on the attribute's name, `range=low-high`, low and high
//   zero-based indexes of the first and last values wanted, high `*` for all remaining values;
// - the server may return fewer values than asked for (here: at most MaxValRange);
// - when the server receives a range request, it includes a range option in the attribute
//   description it returns: low the index of the first value returned, high that of the last,
//   or `*` when the last value of the attribute is among those returned;
// - an attribute with more values than MaxValRange, asked for without a range, is returned as a
//   range from 0 all the same (`member;range=0-1499`): the client reads on from there.
// A range whose low lies past the last value is not emulated (mdmops never asks for one): the
// attribute is then left out of the entry.
import { connect as tlsConnect, createServer, type TLSSocket } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NetNs } from './netns.js';
import type { SambaDc } from './samba.js';
import { makeServerCertificate, type ServerCertificate } from './tls.js';

const SEARCH_REQUEST = 0x63;
const SEARCH_RESULT_ENTRY = 0x64;
const SEARCH_RESULT_DONE = 0x65;
const SEQUENCE = 0x30;
const SET = 0x31;
const OCTET_STRING = 0x04;
const RANGE = /^(.*);range=(\d+)-(\d+|\*)$/i;

/** One BER element: where it begins, its tag, where its content lies, and where it ends. */
interface Element {
  pos: number;
  tag: number;
  start: number;
  end: number;
}

/** The element at `pos`, or undefined when it has not all arrived. */
function element(buf: Buffer, pos: number): Element | undefined {
  if (buf.length < pos + 2) return undefined;
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (buf.length < start + n) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  return start + len <= buf.length ? { pos, tag: buf[pos]!, start, end: start + len } : undefined;
}

function children(buf: Buffer, parent: Element): Element[] {
  const out: Element[] = [];
  for (let pos = parent.start; pos < parent.end; ) {
    const e = element(buf, pos);
    if (!e || e.end > parent.end) throw new Error('malformed BER in the proxied LDAP');
    out.push(e);
    pos = e.end;
  }
  return out;
}

function encode(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const length = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : n < 0x10000 ? Buffer.from([0x82, n >> 8, n & 0xff]) : Buffer.from([0x84, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

const raw = (buf: Buffer, e: Element) => buf.subarray(e.pos, e.end);

/** What a search asked of each attribute, by lower-case name: a range, or the whole attribute (undefined). */
type Asked = Map<string, { low: number; high: number } | undefined>;

export interface RangingProxy {
  port: number;
  stop(): Promise<void>;
}

/**
 * Listens for LDAPS on 127.0.0.1 with `certificate`, and opens for each client a TLS connection to
 * the DC through `upstreamSocket` (a Unix socket leading to its port 636), trusting `upstreamCa`.
 */
export async function startRangingProxy(options: { certificate: ServerCertificate; upstreamSocket: string; upstreamCa: string; upstreamName: string; maxValRange?: number }): Promise<RangingProxy> {
  const maxValRange = options.maxValRange ?? 1500;
  const sockets = new Set<TLSSocket>();
  const server = createServer({ cert: readFileSync(options.certificate.certFile), key: readFileSync(options.certificate.keyFile) }, (client) => {
    const upstream = tlsConnect({ path: options.upstreamSocket, ca: options.upstreamCa, servername: options.upstreamName });
    sockets.add(client).add(upstream);
    const asked = new Map<number, Asked>();
    const close = () => (client.destroy(), upstream.destroy());
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    frames(client, (message) => upstream.write(request(message, asked)));
    frames(upstream, (message) => client.write(response(message, asked, maxValRange)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Cuts a stream into whole LDAP messages. */
function frames(socket: TLSSocket, onMessage: (message: Buffer) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (let e = element(pending, 0); e; e = element(pending, 0)) {
      onMessage(pending.subarray(0, e.end));
      pending = pending.subarray(e.end);
    }
  });
}

/** A search request goes on with range options taken off (Samba answers nothing for them); what was asked is kept by message id. */
function request(message: Buffer, asked: Map<number, Asked>): Buffer {
  const top = element(message, 0)!;
  const [id, op, ...controls] = children(message, top);
  if (!id || op?.tag !== SEARCH_REQUEST) return message;
  const fields = children(message, op);
  const attributes = fields.at(-1)!;
  const wanted: Asked = new Map();
  const names = children(message, attributes).map((a) => {
    const name = message.toString('utf8', a.start, a.end);
    const range = RANGE.exec(name);
    wanted.set((range?.[1] ?? name).toLowerCase(), range ? { low: Number(range[2]), high: range[3] === '*' ? Infinity : Number(range[3]) } : undefined);
    return encode(OCTET_STRING, Buffer.from(range?.[1] ?? name, 'utf8'));
  });
  asked.set(messageId(message, id), wanted);
  const searchRequest = encode(SEARCH_REQUEST, ...fields.slice(0, -1).map((f) => raw(message, f)), encode(SEQUENCE, ...names));
  return encode(SEQUENCE, raw(message, id), searchRequest, ...controls.map((c) => raw(message, c)));
}

/** An entry's attribute values cut to a range as Active Directory does; any other message as it came. */
function response(message: Buffer, asked: Map<number, Asked>, maxValRange: number): Buffer {
  const top = element(message, 0)!;
  const [id, op, ...controls] = children(message, top);
  if (id && op?.tag === SEARCH_RESULT_DONE) asked.delete(messageId(message, id));
  if (!id || op?.tag !== SEARCH_RESULT_ENTRY) return message;
  const wanted = asked.get(messageId(message, id));
  const [objectName, list] = children(message, op);
  const attributes: Buffer[] = [];
  for (const attribute of children(message, list!)) {
    const [type, set] = children(message, attribute);
    const name = message.toString('utf8', type!.start, type!.end);
    const values = children(message, set!);
    const range = wanted?.get(name.toLowerCase());
    if (!range && values.length <= maxValRange) {
      attributes.push(raw(message, attribute));
      continue;
    }
    const low = range?.low ?? 0;
    if (low >= values.length) continue; // not emulated: see the header
    const last = Math.min(values.length - 1, range?.high ?? Infinity, low + maxValRange - 1);
    const description = `${name};range=${low}-${last === values.length - 1 ? '*' : last}`;
    attributes.push(encode(SEQUENCE, encode(OCTET_STRING, Buffer.from(description, 'utf8')), encode(SET, ...values.slice(low, last + 1).map((v) => raw(message, v)))));
  }
  const entry = encode(SEARCH_RESULT_ENTRY, raw(message, objectName!), encode(SEQUENCE, ...attributes));
  return encode(SEQUENCE, raw(message, id), entry, ...controls.map((c) => raw(message, c)));
}

/**
 * A ranging proxy in front of `dc` (through a bridge into its namespace), on 127.0.0.1 outside and
 * bridged to the same port inside, where the agent is: its CA (its name is localhost) and port.
 */
export async function rangingProxyFor(netns: NetNs, dc: SambaDc): Promise<RangingProxy & { caPem: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-ranging-'));
  try {
    const certificate = await makeServerCertificate(dir, 'Ranging proxy CA');
    const proxy = await startRangingProxy({ certificate, upstreamSocket: await netns.bridgeIn(636), upstreamCa: dc.caPem, upstreamName: dc.serverName });
    await netns.bridgeOut(proxy.port, proxy.port);
    return { port: proxy.port, caPem: certificate.caPem, stop: proxy.stop };
  } finally {
    rmSync(dir, { recursive: true, force: true }); // the certificate is read at start
  }
}

function messageId(message: Buffer, id: Element): number {
  let n = 0;
  for (let p = id.start; p < id.end; p++) n = n * 256 + message[p]!;
  return n;
}
