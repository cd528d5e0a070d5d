// PKCS#12 (RFC 7292): opening uploaded .p12 files with their password, and writing one for a user's
// identity certificate. node-forge reads them (its key parser is RSA-only, so EC keys and
// certificates are taken as raw ASN.1); writing is ours, with node's crypto encrypting the key
// (PBES2, AES-256-CBC) and an HMAC-SHA256 over the content, as OpenSSL 3 writes them.
import { createHmac, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import type Forge from 'node-forge';
import { forge } from './forge.js';
import { bmp, explicit, int, NULL, octets, oid, seq, set } from './der.js';
import { messageOf } from '../util/message-of.js';

export class Pkcs12Error extends Error {}

const DATA = '1.2.840.113549.1.7.1';
const MAC_ITERATIONS = 2048;

/** The key and certificates (DER, in file order) in a PKCS#12 file. */
export function readPkcs12(bytes: Buffer, password: string): { key?: KeyObject; certificates: Buffer[] } {
  let asn1: Forge.asn1.Asn1;
  let p12: Forge.pkcs12.Pkcs12Pfx;
  try {
    asn1 = forge().asn1.fromDer(forge().util.createBuffer(bytes.toString('binary')));
    p12 = forge().pkcs12.pkcs12FromAsn1(asn1, password);
  } catch (e) {
    if (/MAC could not be verified/.test(messageOf(e))) throw new Pkcs12Error('wrong password');
    // The MAC took the password (as characters); PBES2 takes its UTF-8 bytes, which forge does not
    // make of a non-ASCII password. The MAC is verified, so open the rest without it.
    try {
      if (!/[^\x00-\x7f]/.test(password)) throw e;
      const withoutMac = forge().asn1.create(asn1!.tagClass, asn1!.type, true, (asn1!.value as Forge.asn1.Asn1[]).slice(0, 2));
      p12 = forge().pkcs12.pkcs12FromAsn1(withoutMac, forge().util.encodeUtf8(password));
    } catch {
      throw new Pkcs12Error('not a readable PKCS#12 file');
    }
  }
  const der = (a: Forge.asn1.Asn1) => Buffer.from(forge().asn1.toDer(a).getBytes(), 'binary');
  const certificates: Buffer[] = [];
  let key: KeyObject | undefined;
  for (const safe of p12.safeContents) {
    for (const bag of safe.safeBags) {
      if (bag.type === forge().pki.oids.certBag) {
        certificates.push(bag.cert ? der(forge().pki.certificateToAsn1(bag.cert)) : der((bag as unknown as { asn1: Forge.asn1.Asn1 }).asn1));
      } else if (bag.type === forge().pki.oids.pkcs8ShroudedKeyBag || bag.type === forge().pki.oids.keyBag) {
        const info = bag.key
          ? forge().pki.wrapRsaPrivateKey(forge().pki.privateKeyToAsn1(bag.key as Forge.pki.rsa.PrivateKey))
          : (bag as unknown as { asn1: Forge.asn1.Asn1 }).asn1;
        key = createPrivateKey({ key: der(info), format: 'der', type: 'pkcs8' });
      }
    }
  }
  return { key, certificates };
}

export interface Pkcs12Input {
  key: KeyObject;
  /** DER: the certificate first, then its chain. */
  certificates: Buffer[];
  password: string;
  friendlyName?: string;
}

export function writePkcs12(input: Pkcs12Input): Buffer {
  const localKeyId = randomBytes(20);
  const attributes = set(
    seq(oid('1.2.840.113549.1.9.21'), set(octets(localKeyId))),
    ...(input.friendlyName ? [seq(oid('1.2.840.113549.1.9.20'), set(bmp(input.friendlyName)))] : []),
  );
  const certBags = input.certificates.map((der, i) =>
    seq(oid('1.2.840.113549.1.12.10.1.3'), explicit(0, seq(oid('1.2.840.113549.1.9.22.1'), explicit(0, octets(der)))), ...(i === 0 ? [attributes] : [])),
  );
  const encryptedKey = input.key.export({ type: 'pkcs8', format: 'der', cipher: 'aes-256-cbc', passphrase: input.password });
  const keyBag = seq(oid('1.2.840.113549.1.12.10.1.2'), explicit(0, encryptedKey), attributes);
  const data = (content: Buffer) => seq(oid(DATA), explicit(0, octets(content)));
  const authSafe = seq(data(seq(...certBags)), data(seq(keyBag)));

  const salt = randomBytes(16);
  const macKey = forge().pkcs12.generateKey(input.password, forge().util.createBuffer(salt.toString('binary')), 3, MAC_ITERATIONS, 32, forge().md.sha256.create());
  const mac = createHmac('sha256', Buffer.from(macKey.getBytes(), 'binary')).update(authSafe).digest();
  const macData = seq(seq(seq(oid('2.16.840.1.101.3.4.2.1'), NULL), octets(mac)), octets(salt), int(MAC_ITERATIONS));
  return seq(int(3), data(authSafe), macData);
}
