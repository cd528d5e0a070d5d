// Paged LDAP searches (RFC 4511, with RFC 2696's paged results control) whose responses are decoded
// here, straight from the socket. Why not ldapts's own searchPaginated: its generic decoding (a
// BerReader, a Buffer and a string per value, an Attribute object per attribute, an entry object
// per entry) made reading 100,000 users take longer than slapd takes to send them, and its garbage
// dominated the sync. ldapts still connects, does StartTLS or ldaps://, binds, and encodes the
// requests; once bound, the socket is taken over for the search. Only the attributes asked for are
// decoded, matched by name without regard to case, and each value becomes one string.
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { Client, FilterParser, PagedResultsControl, SearchRequest, SearchResponse, StatusCodeParser, UnbindRequest } from 'ldapts';

/** A response that is not the LDAP the search expects: the connection cannot be read on after it. */
export class LdapProtocolError extends Error {
  constructor(message: string) {
    super(`malformed LDAP response: ${message}`);
  }
}

// BER tags of the messages and fields read here.
const SEQUENCE = 0x30;
const SET = 0x31;
const INTEGER = 0x02;
const ENUMERATED = 0x0a;
const OCTET_STRING = 0x04;
const BOOLEAN = 0x01;
const SEARCH_RESULT_ENTRY = 0x64;
const SEARCH_RESULT_DONE = 0x65;
const SEARCH_RESULT_REFERENCE = 0x73;
const EXTENDED_RESPONSE = 0x78;
const CONTROLS = 0xa0;
const PAGED_RESULTS = '1.2.840.113556.1.4.319';
/** Larger is taken for garbage rather than waited for: a group of a million members is ~60 MB. */
const MAX_MESSAGE = 256 * 1024 * 1024;

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** A cursor over one whole message. Every read checks its bounds: bad input throws, never loops. */
class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.pos = start;
  }

  /** Reads a tag and a length; returns where the content ends and leaves pos at its start. */
  enter(tag: number, limit: number, what: string): number {
    const b = this.buf;
    let p = this.pos;
    if (p + 2 > limit) throw new LdapProtocolError(`${what}: truncated`);
    if (b[p] !== tag) throw new LdapProtocolError(`${what}: expected tag ${hex(tag)}, got ${hex(b[p]!)}`);
    let len = b[p + 1]!;
    p += 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4) throw new LdapProtocolError(`${what}: unsupported length form ${hex(len)}`);
      if (p + n > limit) throw new LdapProtocolError(`${what}: truncated`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
    }
    if (p + len > limit) throw new LdapProtocolError(`${what}: truncated (${len} bytes announced, ${limit - p} left)`);
    this.pos = p;
    return p + len;
  }

  peek(limit: number): number {
    return this.pos < limit ? this.buf[this.pos]! : -1;
  }

  integer(tag: number, limit: number, what: string): number {
    const end = this.enter(tag, limit, what);
    if (end === this.pos || end - this.pos > 6) throw new LdapProtocolError(`${what}: bad integer length ${end - this.pos}`);
    let n = this.buf[this.pos]! & 0x80 ? -1 : 0;
    for (let p = this.pos; p < end; p++) n = n * 256 + this.buf[p]!;
    this.pos = end;
    return n;
  }

  string(limit: number, what: string): string {
    const end = this.enter(OCTET_STRING, limit, what);
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  bytes(limit: number, what: string): Buffer {
    const end = this.enter(OCTET_STRING, limit, what);
    const b = Buffer.from(this.buf.subarray(this.pos, end)); // a copy: the chunk it came in is not kept
    this.pos = end;
    return b;
  }
}

/**
 * The total length (header and content) of the message at the start of buf, or -1 when its header
 * has not all arrived.
 */
export function messageLength(buf: Buffer, start: number): number {
  const left = buf.length - start;
  if (left < 2) return -1;
  if (buf[start] !== SEQUENCE) throw new LdapProtocolError(`expected an LDAPMessage (tag 0x30), got ${hex(buf[start]!)}`);
  const first = buf[start + 1]!;
  if (!(first & 0x80)) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4) throw new LdapProtocolError(`LDAPMessage: unsupported length form ${hex(first)}`);
  if (left < 2 + n) return -1;
  let len = 0;
  for (let i = 0; i < n; i++) len = len * 256 + buf[start + 2 + i]!;
  if (len > MAX_MESSAGE) throw new LdapProtocolError(`LDAPMessage of ${len} bytes is over the ${MAX_MESSAGE}-byte limit`);
  return 2 + n + len;
}

/** Cuts a byte stream into whole LDAP messages, joining only messages that span chunks. */
export class MessageFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The length of the message pending, once its header is in. */
  private need = -1;

  constructor(private readonly onMessage: (buf: Buffer, start: number, end: number) => void) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pendingBytes) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.need < 0) this.need = messageLength(Buffer.concat(this.pending, this.pendingBytes), 0);
      if (this.need < 0 || this.pendingBytes < this.need) return;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let at = 0;
    while (at < buf.length) {
      const len = messageLength(buf, at);
      if (len < 0 || at + len > buf.length) {
        this.pending = [buf.subarray(at)];
        this.pendingBytes = buf.length - at;
        this.need = len;
        return;
      }
      this.onMessage(buf, at, at + len);
      at += len;
    }
    this.need = -1;
  }

  /** Bytes of a message begun and not finished. */
  get partial(): number {
    return this.pendingBytes;
  }
}

export interface PagedSearch {
  base: string;
  scope: 'base' | 'one' | 'sub';
  filter: string;
  /** Requested attributes, distinct without regard to case; entries' values come by index in this list. */
  attributes: string[];
  /** Of those, the ones whose values are bytes (Active Directory's objectGUID, objectSid): given as hex. */
  binary: string[];
  pageSize: number;
  /** For each page, from its request to its last message. */
  timeoutMs: number;
}

/**
 * One value of an attribute, several, or none. The array an entry's values come in is reused for
 * the next entry: keep the values, not the array.
 */
export type Values = string | string[] | undefined;
/**
 * `more[i]`: where the values of attribute i go on, when the server sent only a range of them
 * (Active Directory's range retrieval, MS-ADTS 3.1.1.3.1.3.3: `member;range=0-1499`); undefined
 * when they are all there (no range option, or one ending in `*`). Reused like the values.
 */
export type EntryHandler = (dn: string, values: Values[], more: readonly (number | undefined)[]) => void;

/** Whether the attribute description buf[start, end) carries options (`;`), looked for there only. */
function hasOptions(buf: Buffer, start: number, end: number): boolean {
  for (let p = start; p < end; p++) if (buf[p] === 0x3b) return true;
  return false;
}

/** An attribute description's range option (MS-ADTS 3.1.1.3.1.3.3), as `;range=low-high` or `;range=low-*`. */
const RANGE_OPTION = /;range=(\d+)-(\d+|\*)$/i;

/** Decodes the responses to a search, handing each entry over as it is decoded. */
export class SearchDecoder {
  private readonly wanted: Buffer[];
  private readonly binary: boolean[];
  private readonly values: Values[];
  private readonly more: (number | undefined)[];

  constructor(attributes: string[], binary: string[], private readonly onEntry: EntryHandler) {
    // An attribute asked for by range (member;range=1500-*) is answered under its own range: matched by its name.
    const lower = attributes.map((a) => a.toLowerCase().replace(RANGE_OPTION, ''));
    if (new Set(lower).size !== lower.length) throw new Error(`attributes must be distinct without regard to case: ${attributes.join(', ')}`);
    this.wanted = lower.map((a) => Buffer.from(a, 'latin1'));
    this.more = lower.map(() => undefined);
    const bin = new Set(binary.map((a) => a.toLowerCase()));
    // RFC 4522: a ";binary" transfer option says the values are bytes.
    this.binary = lower.map((a) => bin.has(a) || a.endsWith(';binary'));
    this.values = lower.map(() => undefined);
  }

  /** Index of the attribute type buf[start, end) among the wanted, ignoring ASCII case; -1 if not wanted. */
  private slot(buf: Buffer, start: number, end: number): number {
    const len = end - start;
    outer: for (let i = 0; i < this.wanted.length; i++) {
      const w = this.wanted[i]!;
      if (w.length !== len) continue;
      for (let j = 0; j < len; j++) {
        const c = buf[start + j]!;
        if (c !== w[j] && !(c >= 0x41 && c <= 0x5a && c + 0x20 === w[j])) continue outer;
      }
      return i;
    }
    return -1;
  }

  /**
   * The kind of a whole message answering the search sent as messageId: SEARCH_RESULT_ENTRY,
   * SEARCH_RESULT_DONE or SEARCH_RESULT_REFERENCE. Throws for anything else.
   */
  kind(buf: Buffer, start: number, end: number, messageId: number): number {
    const r = new Reader(buf, start, end);
    const messageEnd = r.enter(SEQUENCE, end, 'LDAPMessage');
    const id = r.integer(INTEGER, messageEnd, 'messageID');
    const op = r.peek(messageEnd);
    if (id !== messageId) {
      // Message 0 is unsolicited: a Notice of Disconnection (RFC 4511 4.4.1) when the server hangs up.
      if (id === 0 && op === EXTENDED_RESPONSE) {
        const result = this.result(r, r.enter(EXTENDED_RESPONSE, messageEnd, 'ExtendedResponse'), 0);
        throw new Error(`the server ended the connection (result code ${result.status}${result.errorMessage ? `: ${result.errorMessage}` : ''})`);
      }
      throw new LdapProtocolError(`a response to message ${id} while searching as message ${messageId}`);
    }
    if (op !== SEARCH_RESULT_ENTRY && op !== SEARCH_RESULT_DONE && op !== SEARCH_RESULT_REFERENCE) throw new LdapProtocolError(`unexpected response ${hex(op)} to a search`);
    return op;
  }

  /** A SearchResultReference (RFC 4511 4.5.3, its message id checked by kind): its URIs, any of which continues the search. */
  reference(buf: Buffer, start: number, end: number): string[] {
    const r = new Reader(buf, start, end);
    const messageEnd = r.enter(SEQUENCE, end, 'LDAPMessage');
    r.pos = r.enter(INTEGER, messageEnd, 'messageID');
    const referenceEnd = r.enter(SEARCH_RESULT_REFERENCE, messageEnd, 'SearchResultReference');
    const uris: string[] = [];
    while (r.pos < referenceEnd) uris.push(r.string(referenceEnd, 'reference URI'));
    if (!uris.length) throw new LdapProtocolError('a SearchResultReference without a URI');
    return uris;
  }

  /** A SearchResultDone: the paged results cookie (empty: no more pages). Throws the result's error when the search failed. */
  done(buf: Buffer, start: number, end: number): Buffer {
    const r = new Reader(buf, start, end);
    const messageEnd = r.enter(SEQUENCE, end, 'LDAPMessage');
    const id = r.integer(INTEGER, messageEnd, 'messageID');
    const opEnd = r.enter(SEARCH_RESULT_DONE, messageEnd, 'SearchResultDone');
    const result = this.result(r, opEnd, id);
    r.pos = opEnd;
    if (result.status !== 0) throw StatusCodeParser.parse(result);
    let cookie: Buffer = Buffer.alloc(0);
    if (r.peek(messageEnd) === CONTROLS) {
      const controlsEnd = r.enter(CONTROLS, messageEnd, 'controls');
      while (r.pos < controlsEnd) {
        const controlEnd = r.enter(SEQUENCE, controlsEnd, 'control');
        const type = r.string(controlEnd, 'controlType');
        if (r.peek(controlEnd) === BOOLEAN) r.pos = r.enter(BOOLEAN, controlEnd, 'criticality');
        if (type === PAGED_RESULTS && r.peek(controlEnd) === OCTET_STRING) {
          const valueEnd = r.enter(OCTET_STRING, controlEnd, 'paged results control');
          const seqEnd = r.enter(SEQUENCE, valueEnd, 'paged results value');
          r.integer(INTEGER, seqEnd, 'paged results size');
          cookie = r.bytes(seqEnd, 'paged results cookie');
        }
        r.pos = controlEnd;
      }
    }
    return cookie;
  }

  /** LDAPResult's first three fields, as ldapts's StatusCodeParser takes them. */
  private result(r: Reader, limit: number, messageId: number): SearchResponse {
    const status = r.integer(ENUMERATED, limit, 'resultCode');
    const matchedDN = r.string(limit, 'matchedDN');
    const errorMessage = r.string(limit, 'diagnosticMessage');
    return new SearchResponse({ messageId, status, matchedDN, errorMessage });
  }

  /** A SearchResultEntry (its message id checked by kind): its DN and wanted values go to onEntry. */
  entry(buf: Buffer, start: number, end: number): void {
    const r = new Reader(buf, start, end);
    const messageEnd = r.enter(SEQUENCE, end, 'LDAPMessage');
    r.pos = r.enter(INTEGER, messageEnd, 'messageID');
    const limit = r.enter(SEARCH_RESULT_ENTRY, messageEnd, 'SearchResultEntry');
    const values = this.values;
    const dn = r.string(limit, 'objectName');
    const attributesEnd = r.enter(SEQUENCE, limit, 'attributes');
    while (r.pos < attributesEnd) {
      const attributeEnd = r.enter(SEQUENCE, attributesEnd, 'PartialAttribute');
      const typeEnd = r.enter(OCTET_STRING, attributeEnd, 'attribute type');
      let i = this.slot(buf, r.pos, typeEnd);
      if (i < 0 && hasOptions(buf, r.pos, typeEnd)) i = this.ranged(buf.toString('latin1', r.pos, typeEnd));
      r.pos = typeEnd;
      if (i >= 0) {
        const binary = this.binary[i];
        const valsEnd = r.enter(SET, attributeEnd, 'attribute values');
        while (r.pos < valsEnd) {
          const valueEnd = r.enter(OCTET_STRING, valsEnd, 'attribute value');
          let v: string;
          if (binary) v = buf.toString('hex', r.pos, valueEnd);
          else {
            v = buf.toString('utf8', r.pos, valueEnd);
            // Bytes that are not UTF-8 (a photo, a certificate) are kept as hex, not decoded lossily.
            if (v.includes('\ufffd') && !isUtf8(buf.subarray(r.pos, valueEnd))) v = buf.toString('hex', r.pos, valueEnd);
          }
          const had = values[i];
          values[i] = had === undefined ? v : typeof had === 'string' ? [had, v] : (had.push(v), had);
          r.pos = valueEnd;
        }
      }
      r.pos = attributeEnd;
    }
    try {
      this.onEntry(dn, values, this.more);
    } finally {
      values.fill(undefined);
      this.more.fill(undefined);
    }
  }

  /** The slot of an attribute sent with a range option, its next range noted; -1 if not wanted. */
  private ranged(type: string): number {
    const range = RANGE_OPTION.exec(type);
    if (!range) return -1;
    const name = Buffer.from(type.slice(0, range.index), 'latin1');
    const i = this.slot(name, 0, name.length);
    if (i >= 0 && range[2] !== '*') {
      const [low, high] = [Number(range[1]), Number(range[2])];
      if (high < low) throw new LdapProtocolError(`attribute ${type}: a range that ends before it starts`);
      this.more[i] = high + 1;
    }
    return i;
  }
}

type Internals = { socket?: Duplex; socketDataHandler?: (data: Buffer) => void };

/**
 * Takes a bound client's socket for the searches: ldapts stops reading it. The socket is the
 * caller's from then on: close it with endSearches, not client.unbind().
 */
export function takeSocket(client: Client): Duplex {
  const c = client as unknown as Internals;
  if (!c.socket || typeof c.socketDataHandler !== 'function' || !c.socket.listeners('data').includes(c.socketDataHandler)) {
    throw new Error('cannot take over the LDAP connection: the installed ldapts does not keep its socket as 8.0 did');
  }
  c.socket.removeListener('data', c.socketDataHandler);
  return c.socket;
}

/** Says goodbye (an UnbindRequest) and closes the socket, at once if the server does not take it. */
export function endSearches(socket: Duplex): void {
  if (socket.destroyed) return;
  setTimeout(() => socket.destroy(), 1000).unref();
  if (socket.writable) socket.end(new UnbindRequest({ messageId: 0x7fff_fff0 }).write(), () => socket.destroy());
  else socket.destroy();
}

/**
 * Runs a paged search on a socket taken with takeSocket, page after page until the server gives no
 * cookie, handing each entry to onEntry and each search continuation reference's URIs to onReference. Rejects, and destroys the socket, on a failed search, a
 * malformed response, the connection closing, or a page not done in time.
 *
 * The server cannot start a page before it is asked for it, and asking takes the cookie that ends
 * the page before: so messages are only cut apart as they arrive, and each page is asked for as
 * soon as the end of the one before is in, before the entries that came ahead of it are decoded.
 */
export function pagedSearch(socket: Duplex, spec: PagedSearch, onEntry: EntryHandler, onPage?: (entries: number) => void, onReference?: (uris: string[]) => void): Promise<void> {
  const decoder = new SearchDecoder(spec.attributes, spec.binary, onEntry);
  const filter = FilterParser.parseString(spec.filter);
  return new Promise<void>((resolve, reject) => {
    let messageId = 1000;
    let pageEntries = 0;
    let lastPage = false;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    let draining: NodeJS.Immediate | undefined;
    // Framed, not yet decoded: entries (buffer, start, end), and page ends (undefined, entries in the page, 0).
    let bufs: (Buffer | undefined)[] = [];
    let starts: number[] = [];
    let ends: number[] = [];

    const finish = (e?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearImmediate(draining);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      // ldapts's own error listener stays: an error after this is not unhandled.
      if (e) {
        socket.destroy();
        reject(e);
      } else resolve();
    };
    const ask = (cookie?: Buffer) => {
      messageId++;
      pageEntries = 0;
      clearTimeout(timer);
      timer = setTimeout(() => finish(new Error(`no answer to a search page within ${spec.timeoutMs} ms`)), spec.timeoutMs);
      const request = new SearchRequest({
        messageId,
        baseDN: spec.base,
        scope: spec.scope,
        filter,
        attributes: spec.attributes,
        controls: [new PagedResultsControl({ value: { size: spec.pageSize, ...(cookie ? { cookie } : {}) } })],
      });
      socket.write(request.write());
    };
    const framer = new MessageFramer((buf, start, end) => {
      const kind = decoder.kind(buf, start, end, messageId);
      if (kind === SEARCH_RESULT_ENTRY) {
        pageEntries++;
        bufs.push(buf), starts.push(start), ends.push(end);
      } else if (kind === SEARCH_RESULT_DONE) {
        const cookie = decoder.done(buf, start, end);
        bufs.push(undefined), starts.push(pageEntries), ends.push(0);
        // As ldapts: a page without entries ends the search even with a cookie, so a server repeating one cannot loop it.
        if (cookie.length && pageEntries) ask(cookie);
        else {
          clearTimeout(timer);
          lastPage = true;
        }
      } else onReference?.(decoder.reference(buf, start, end)); // followed, or not, by the caller once the search is done
    });
    const drain = () => {
      draining = undefined;
      try {
        for (let i = 0; i < bufs.length; i++) {
          const buf = bufs[i];
          if (buf) decoder.entry(buf, starts[i]!, ends[i]!);
          else onPage?.(starts[i]!);
        }
        bufs = [];
        starts = [];
        ends = [];
        if (lastPage) finish();
      } catch (e) {
        finish(e as Error);
      }
    };
    const onData = (chunk: Buffer) => {
      if (settled) return;
      if (lastPage) return finish(new LdapProtocolError(`${chunk.length} bytes after the search ended`));
      try {
        framer.push(chunk);
      } catch (e) {
        return finish(e as Error);
      }
      // Decoded after the data already in has been cut apart: a page's end found there asks for the next page first.
      if (bufs.length && !draining) draining = setImmediate(drain);
    };
    const onClose = () => finish(new Error(`the connection closed before the search ended${framer.partial ? ' (within a message)' : ''}`));
    const onError = (e: Error) => finish(new Error(`connection error: ${e.message}`));
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    try {
      ask();
    } catch (e) {
      finish(e as Error);
    }
  });
}
