// Distinguished names as strings (RFC 4514, with RFC 2253's quoted values and `;` separators): split
// into relative distinguished names, each a list of [type, value] with escapes undone. Both readers
// of DNs build on this: certificate subjects (pki/name.ts) and directory names (identity/ldap-names.ts).
// Pure.

const TYPE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)$/;
const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

/**
 * The RDNs of a DN as written, first to last; undefined when it is not one. Spaces around types,
 * around `=`, and at either end of an unquoted value are not part of it (RFC 4514 section 3 lets
 * parsers ignore them; an escaped space is kept). `\XX` escapes are UTF-8 bytes: a run of them is
 * decoded together. A value starting with `#` (BER in hex) is returned as written.
 */
export function splitDn(dn: string): [type: string, value: string][][] | undefined {
  const rdns: [string, string][][] = [];
  let avas: [string, string][] = [];
  let i = 0;
  for (;;) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) return undefined;
    const type = dn.slice(i, eq).trim();
    if (!TYPE.test(type)) return undefined;
    i = eq + 1;
    while (dn[i] === ' ') i++;
    // Pieces are sliced, not added a character at a time: a value kept for each of many users
    // should be one string, not a chain of them.
    const pieces: string[] = [];
    let bytes: number[] = [];
    /** Unescaped spaces at the value's end so far: not part of an unquoted value. */
    let trailing = 0;
    const add = (piece: string, escaped: boolean) => {
      if (bytes.length) pieces.push(Buffer.from(bytes).toString('utf8'));
      bytes = [];
      pieces.push(piece);
      if (escaped) trailing = 0;
      else {
        const spaces = / *$/.exec(piece)![0].length;
        trailing = spaces === piece.length ? trailing + spaces : spaces;
      }
    };
    const quoted = dn[i] === '"';
    if (quoted) i++;
    let run = i;
    for (; i < dn.length; i++) {
      const c = dn[i]!;
      if (c === '\\') {
        if (run < i) add(dn.slice(run, i), false);
        const pair = dn.slice(i + 1, i + 3);
        if (HEX_PAIR.test(pair)) {
          bytes.push(parseInt(pair, 16));
          trailing = 0;
          i += 2;
        } else {
          if (i + 1 === dn.length) return undefined;
          add(dn[++i]!, true);
        }
        run = i + 1;
        continue;
      }
      if (quoted ? c === '"' : c === ',' || c === ';' || c === '+') break;
    }
    add(run < i ? dn.slice(run, i) : '', false);
    let value = pieces.join('');
    if (quoted) {
      if (dn[i] !== '"') return undefined;
      i++;
      while (dn[i] === ' ') i++;
    } else if (trailing) {
      value = value.slice(0, value.length - trailing);
    }
    avas.push([type, value]);
    if (i >= dn.length) break;
    const separator = dn[i++];
    if (separator !== '+') {
      if (separator !== ',' && separator !== ';') return undefined;
      rdns.push(avas);
      avas = [];
    }
  }
  rdns.push(avas);
  return rdns;
}
