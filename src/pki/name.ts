// Distinguished names: RFC 4514 strings ("CN=alice,O=Contoso") as administrators write them in
// subject templates, and their DER encoding.
import { splitDn } from '../util/dn.js';
import { ia5, oid, printable, seq, set, utf8 } from './der.js';

const ATTRIBUTES: Record<string, { oid: string; encode: (v: string) => Buffer }> = {
  CN: { oid: '2.5.4.3', encode: utf8 },
  SERIALNUMBER: { oid: '2.5.4.5', encode: printable },
  C: { oid: '2.5.4.6', encode: printable },
  L: { oid: '2.5.4.7', encode: utf8 },
  ST: { oid: '2.5.4.8', encode: utf8 },
  STREET: { oid: '2.5.4.9', encode: utf8 },
  O: { oid: '2.5.4.10', encode: utf8 },
  OU: { oid: '2.5.4.11', encode: utf8 },
  TITLE: { oid: '2.5.4.12', encode: utf8 },
  GIVENNAME: { oid: '2.5.4.42', encode: utf8 },
  SN: { oid: '2.5.4.4', encode: utf8 },
  UID: { oid: '0.9.2342.19200300.100.1.1', encode: utf8 },
  DC: { oid: '0.9.2342.19200300.100.1.25', encode: ia5 },
  E: { oid: '1.2.840.113549.1.9.1', encode: ia5 },
  EMAILADDRESS: { oid: '1.2.840.113549.1.9.1', encode: ia5 },
};

export class NameError extends Error {}

export interface Attribute {
  type: string;
  value: string;
}

/** RFC 4514 escaping, for values put into a DN string (a UPN may hold a comma). */
export function escapeDnValue(v: string): string {
  if (!/[,+"\\<>;=]|^[ #]| $/.test(v)) return v;
  return v.replace(/[,+"\\<>;=]/g, '\\$&').replace(/^[ #]/, '\\$&').replace(/ $/, '\\ ');
}

/** Parses "CN=a,OU=b+O=c" into relative distinguished names, most significant first (as encoded). */
export function parseDn(text: string): Attribute[][] {
  const rdns = splitDn(text);
  if (!rdns) throw new NameError(`"${text}" is not a distinguished name such as CN=name,O=organization`);
  return rdns
    .map((avas) =>
      avas.map(([written, value]) => {
        const type = written.toUpperCase();
        if (!ATTRIBUTES[type] && !/^\d+(\.\d+)+$/.test(type)) throw new NameError(`unknown attribute type "${written}" (known: ${Object.keys(ATTRIBUTES).join(', ')}, or a dotted OID)`);
        if (!value.length) throw new NameError(`empty value for ${type}`);
        return { type, value };
      }),
    )
    .reverse();
}

export function encodeName(rdns: Attribute[][]): Buffer {
  return seq(
    ...rdns.map((rdn) =>
      set(...rdn.map((a) => {
        const known = ATTRIBUTES[a.type];
        if (a.type === 'C' && !/^[A-Z]{2}$/.test(a.value)) throw new NameError(`C must be a two-letter country code, not "${a.value}"`);
        return seq(oid(known?.oid ?? a.type), (known?.encode ?? utf8)(a.value));
      })),
    ),
  );
}

/** The CA subject as the CertificateAuthority spec declares it. */
export function subjectName(s: { commonName: string; organization?: string; organizationalUnit?: string; country?: string; state?: string; locality?: string }): Buffer {
  const order: [string, string | undefined][] = [['C', s.country], ['ST', s.state], ['L', s.locality], ['O', s.organization], ['OU', s.organizationalUnit], ['CN', s.commonName]];
  return encodeName(order.filter(([, v]) => v).map(([type, value]) => [{ type, value: value! }]));
}
