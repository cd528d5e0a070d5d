// How an LdapSource matches the names directories write: a user's DN against the DNs in groups'
// member values and in its memberOf, and its uid against RFC 2307's memberUid. Pure.

/**
 * Values compared as caseIgnoreMatch does (RFC 4518), which the naming attributes people use have
 * (cn, uid, ou, dc, o): without case, Unicode compatibility forms folded, and spaces insignificant at
 * the ends and one however many inside.
 */
export function caseIgnore(value: string): string {
  if (/^[\x21-\x7e]*$/.test(value)) return value.toLowerCase();
  return value.normalize('NFKC').toLowerCase().trim().replace(/\s+/g, ' ');
}

/** A DN needing no parsing to compare: no escapes, quotes, spaces, multi-valued RDNs, ; separators or non-ASCII. */
const PLAIN_DN = /^[\w.=,@-]*$/;

/**
 * The key a DN is compared by: RFC 4514 escapes undone (`\,`, `\2C` and `"..."` alike), spaces
 * around `,` `+` `=` dropped, the values of a multi-valued RDN in one order, attribute types and
 * values compared as caseIgnore says. Directories give one DN in many spellings: the member value
 * an administrator typed, or an older server's, need not be the spelling of the entry's own DN.
 * Something that does not parse as a DN is compared as written, without case.
 */
export function dnKey(dn: string): string {
  if (PLAIN_DN.test(dn)) return dn.toLowerCase();
  const rdns = parseDn(dn);
  if (!rdns) return dn.toLowerCase();
  return rdns
    .map((avas) =>
      avas
        .map(([type, value]) => `${type}=${value.replace(/[\\,+]/g, '\\$&')}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

const TYPE = /^(?:[a-z][a-z0-9-]*|\d+(?:\.\d+)*)$/;
const HEX_PAIR = /^[0-9a-fA-F]{2}$/;

/** A DN's RDNs, each a list of [type, value] (caseIgnore'd); undefined when it is not a DN (RFC 4514, with RFC 2253's quotes and ; too). */
function parseDn(dn: string): [string, string][][] | undefined {
  const rdns: [string, string][][] = [];
  let avas: [string, string][] = [];
  let i = 0;
  for (;;) {
    const eq = dn.indexOf('=', i);
    if (eq < 0) return undefined;
    const type = dn.slice(i, eq).trim().toLowerCase();
    if (!TYPE.test(type)) return undefined;
    i = eq + 1;
    while (dn[i] === ' ') i++;
    let value = '';
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) value += Buffer.from(bytes).toString('utf8');
      bytes = [];
    };
    const quoted = dn[i] === '"';
    if (quoted) i++;
    for (; i < dn.length; i++) {
      const c = dn[i]!;
      if (c === '\\') {
        const pair = dn.slice(i + 1, i + 3);
        // \C3\BC is one character: hex pairs are UTF-8 bytes, decoded together.
        if (HEX_PAIR.test(pair)) {
          bytes.push(parseInt(pair, 16));
          i += 2;
          continue;
        }
        if (i + 1 === dn.length) return undefined;
        flush();
        value += dn[++i];
        continue;
      }
      if (quoted ? c === '"' : c === ',' || c === ';' || c === '+') break;
      flush();
      value += c;
    }
    flush();
    if (quoted) {
      if (dn[i] !== '"') return undefined;
      i++;
      while (dn[i] === ' ') i++;
    }
    // A value starting with # is BER in hex (RFC 4514 2.4): compared as written, without case.
    avas.push([type, caseIgnore(value)]);
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

/** An attribute type and `=` ahead of anything else: a DN, not a uid. */
const DN_START = /^\s*(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)\s*=/;
/** RFC 4517's Name and Optional UID (uniqueMember): a DN, then `#` and a bit string. */
const OPTIONAL_UID = /(?<!\\)#'[01]*'B$/;

/**
 * The dnKey of a value of a group's member attribute that is a DN (member; uniqueMember, whose
 * optional `#'…'B` uid is not part of it); undefined for one that is not: a uid (RFC 2307's memberUid
 * holds the members' uid values, not their DNs), compared by caseIgnore as the directory matches uid.
 */
export function memberDnKey(value: string): string | undefined {
  if (!DN_START.test(value)) return undefined;
  return dnKey(value.endsWith("'B") ? value.replace(OPTIONAL_UID, '') : value);
}
