// Turning bytes into text: refuse binary and non-UTF-8 content with a position.
import { isUtf8 } from 'node:buffer';

export type Decoded = { text: string } | { error: string; offset: number };

export function decodeUtf8(bytes: Uint8Array): Decoded {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { error: 'the file is UTF-16; save it as UTF-8', offset: 0 };
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { error: 'binary file (it contains NUL bytes); expected YAML text', offset: nul };
  if (!isUtf8(bytes)) return { error: 'the file is not valid UTF-8; save it as UTF-8', offset: firstInvalidUtf8(bytes) };
  const start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return { text: Buffer.from(bytes.buffer, bytes.byteOffset + start, bytes.byteLength - start).toString('utf8') };
}

/** Byte offset of the first byte that breaks UTF-8; only called once a file is known to be invalid. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c < 0xe0 ? 1 : c >= 0xe0 && c < 0xf0 ? 2 : c >= 0xf0 && c < 0xf5 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (((b[i + k] ?? 0) & 0xc0) !== 0x80) return i;
    if (n > 0 && !isUtf8(b.subarray(i, i + n + 1))) return i; // overlongs and surrogates
    i += n + 1;
  }
  return b.length;
}

/** 1-based line and column of a byte offset, for errors found before the text is decoded. */
export function bytePosition(bytes: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < bytes.length; i++) {
    if (bytes[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  const column = Buffer.from(bytes.subarray(lineStart, offset)).toString('utf8').length + 1;
  return { line, column };
}
