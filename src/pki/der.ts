// Just enough DER (X.690) to write certificates, requests and PKCS#12 files: each function returns
// one encoded value, so a structure reads as it is written in its RFC.

/** One value: tag, length and the contents written into a single buffer (certificates are built by the thousand). */
function encode(tag: number, parts: Buffer[]): Buffer {
  let size = 0;
  for (const p of parts) size += p.length;
  let lengthBytes = 0;
  if (size >= 0x80) for (let v = size; v > 0; v = Math.floor(v / 256)) lengthBytes++;
  const out = Buffer.allocUnsafe(2 + lengthBytes + size);
  out[0] = tag;
  let at = 1;
  if (lengthBytes) {
    out[at++] = 0x80 | lengthBytes;
    for (let i = lengthBytes - 1; i >= 0; i--) out[at++] = Math.floor(size / 256 ** i) & 0xff;
  } else out[at++] = size;
  for (const p of parts) at += p.copy(out, at);
  return out;
}

export const tlv = (tag: number, content: Buffer) => encode(tag, [content]);
export const seq = (...items: Buffer[]) => encode(0x30, items);
/** SET OF: DER orders the elements by their encodings. */
export const set = (...items: Buffer[]) => encode(0x31, [...items].sort(Buffer.compare));
export const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);
export const octets = (b: Buffer) => tlv(0x04, b);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string) => tlv(0x13, Buffer.from(only(s, /^[A-Za-z0-9 '()+,\-./:=?]*$/, 'a PrintableString (letters, digits, spaces and \'()+,-./:=?)'), 'latin1'));
export const ia5 = (s: string) => tlv(0x16, Buffer.from(ascii(s), 'latin1'));

/** What these string types cannot hold is refused, never written as other characters. */
function only(s: string, allowed: RegExp, what: string): string {
  if (!allowed.test(s)) throw new Error(`"${s}" cannot be written as ${what}`);
  return s;
}
export const ascii = (s: string) => only(s, /^[\x20-\x7e]*$/, 'an IA5String (ASCII only)');
export const bmp = (s: string) => tlv(0x1e, Buffer.from(s, 'utf16le').swap16());
export const NULL = Buffer.from([0x05, 0x00]);
export const TRUE = Buffer.from([0x01, 0x01, 0xff]);

/** A non-negative INTEGER from its big-endian magnitude (or a small number). */
export function int(value: Buffer | number): Buffer {
  const hex = typeof value === 'number' ? value.toString(16) : '';
  let b = typeof value === 'number' ? Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex') : value;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && b[i + 1]! < 0x80) i++;
  b = b.subarray(i);
  return tlv(0x02, b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

const oids = new Map<string, Buffer>();

/** OBJECT IDENTIFIER; the few in use are encoded once. */
export function oid(dotted: string): Buffer {
  let encoded = oids.get(dotted);
  if (!encoded) oids.set(dotted, (encoded = encodeOid(dotted)));
  return encoded;
}

function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(BigInt);
  const out: number[] = [];
  const push = (v: bigint) => {
    const chunk: number[] = [Number(v & 0x7fn)];
    for (v >>= 7n; v > 0n; v >>= 7n) chunk.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...chunk);
  };
  push(arcs[0]! * 40n + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Buffer.from(out));
}

/** BIT STRING of whole bytes (keys, signatures). */
const NO_UNUSED_BITS = Buffer.from([0]);
export const bits = (b: Buffer) => encode(0x03, [NO_UNUSED_BITS, b]);

/** A named-bit BIT STRING (keyUsage): bit 0 is the most significant bit of the first byte; DER drops trailing zeros. */
export function namedBits(set: number[]): Buffer {
  const top = Math.max(...set);
  const bytes = Buffer.alloc(Math.floor(top / 8) + 1);
  for (const n of set) bytes[n >> 3]! |= 0x80 >> (n & 7);
  return tlv(0x03, Buffer.concat([Buffer.from([7 - (top & 7)]), bytes]));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(iso.slice(2))) : tlv(0x18, Buffer.from(iso));
}

/** One value read back: its tag, where its content lies, and where the next value starts. */
export interface Tlv {
  tag: number;
  content: Buffer;
  end: number;
}

export function readTlv(b: Buffer, at = 0): Tlv {
  const tag = b[at]!;
  let len = b[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[start + i]!;
    start += n;
  }
  if (start + len > b.length) throw new Error('truncated DER');
  return { tag, content: b.subarray(start, start + len), end: start + len };
}

/** The elements of a SEQUENCE or SET, as encoded values. */
export function children(content: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < content.length; ) {
    const t = readTlv(content, at);
    out.push(content.subarray(at, t.end));
    at = t.end;
  }
  return out;
}
