// How an LdapSource matches the names directories write: a user's DN against the DNs in groups'
// member values and in its memberOf, and its uid against RFC 2307's memberUid. Pure.
import { splitDn } from '../util/dn.js';

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

/** A DN's RDNs, each a list of [type, value] compared without case (caseIgnore); undefined when it is not a DN. */
function parseDn(dn: string): [string, string][][] | undefined {
  // A value starting with # is BER in hex (RFC 4514 2.4): compared as written, without case.
  return splitDn(dn)?.map((avas) => avas.map(([type, value]) => [type.toLowerCase(), caseIgnore(value)]));
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
