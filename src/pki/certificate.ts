// Writing X.509 v3 certificates (RFC 5280) and PKCS#10 requests (RFC 2986), signed with the
// platform's crypto. Reading them back is node's X509Certificate (see x509.ts).
import { createHash, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { ascii, bits, children, explicit, int, namedBits, NULL, octets, oid, readTlv, seq, set, time, tlv, TRUE, utf8 } from './der.js';

export const OID = {
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ipsecEndSystem: '1.3.6.1.5.5.7.3.5',
  ipsecUser: '1.3.6.1.5.5.7.3.7',
  ipsecIke: '1.3.6.1.5.5.7.3.17',
  smartCardLogon: '1.3.6.1.4.1.311.20.2.2',
  upn: '1.3.6.1.4.1.311.20.2.3',
} as const;

/** Certificates start a little in the past: device clocks drift. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** keyUsage bits (RFC 5280 4.2.1.3). */
export const KeyUsage = { digitalSignature: 0, keyEncipherment: 2, keyAgreement: 4, keyCertSign: 5, cRLSign: 6 } as const;

export type SanType = 'Email' | 'UPN' | 'DNS' | 'URI' | 'IP';
export interface San {
  type: SanType;
  value: string;
}

/** What certificates issued alike share: encoded once (see certificateTemplate). */
export interface TemplateInput {
  /** keyId: the issuer certificate's subject key identifier, which the authority key identifier must repeat. */
  issuer: { name: Buffer; key: KeyObject; publicKey: KeyObject | Buffer; keyId?: Buffer };
  notBefore: Date;
  notAfter: Date;
  ca?: { pathLength?: number };
  keyUsage: number[];
  extendedKeyUsage?: string[];
}

/** What is each certificate's own. */
export interface SubjectInput {
  /** Encoded Name (see name.ts). */
  subject: Buffer;
  /** The key certified: a KeyObject, or its SubjectPublicKeyInfo DER (cheaper when issuing many). */
  publicKey: KeyObject | Buffer;
  /** Made here when not given (see serialNumber). */
  serial?: Buffer;
  subjectAltNames?: San[];
}

export type CertificateInput = TemplateInput & SubjectInput;

/** Issues a certificate; signing runs on the thread pool, so many can be issued at once. */
export const issueCertificate = (input: CertificateInput): Promise<Buffer> => certificateTemplate(input).issue(input);

/**
 * Issues certificates alike: the issuer, validity and usages are encoded once, so that issuing
 * thousands costs little beyond their keys and signatures.
 */
export interface CertificateTemplate {
  notBefore: Date;
  notAfter: Date;
  /** Signs on the thread pool. */
  issue(s: SubjectInput): Promise<Buffer>;
  /** Signs on this thread: for issuing many in slices (see issue-many.ts). */
  issueSync(s: SubjectInput): Buffer;
}

export function certificateTemplate(t: TemplateInput): CertificateTemplate {
  const algorithm = signatureAlgorithm(t.issuer.key);
  const version = explicit(0, int(2)); // v3
  const middle = Buffer.concat([algorithm.id, t.issuer.name, seq(time(t.notBefore), time(t.notAfter))]);
  const shared = Buffer.concat([
    t.ca ? extension('2.5.29.19', seq(TRUE, ...(t.ca.pathLength === undefined ? [] : [int(t.ca.pathLength)])), true) : extension('2.5.29.19', seq(), true),
    extension('2.5.29.15', namedBits(t.keyUsage), true),
  ]);
  const authority = extension('2.5.29.35', seq(tlv(0x80, t.issuer.keyId ?? keyId(spkiOf(t.issuer.publicKey)))));
  const none = Buffer.alloc(0);
  const usages = t.extendedKeyUsage?.length ? extension('2.5.29.37', seq(...t.extendedKeyUsage.map(oid))) : none;
  const tbsOf = (s: SubjectInput) => {
    const spki = spkiOf(s.publicKey);
    const extensions = seq(shared, extension('2.5.29.14', octets(keyId(spki))), authority, usages, s.subjectAltNames?.length ? extension('2.5.29.17', generalNames(s.subjectAltNames)) : none);
    return seq(version, int(s.serial ?? serialNumber()), middle, s.subject, spki, explicit(3, extensions));
  };
  const signed = (tbs: Buffer, signature: Buffer) => seq(tbs, algorithm.id, bits(signature));
  return {
    notBefore: t.notBefore,
    notAfter: t.notAfter,
    async issue(s) {
      const tbs = tbsOf(s);
      return signed(tbs, await signAsync(algorithm.hash, tbs, t.issuer.key));
    },
    issueSync(s) {
      const tbs = tbsOf(s);
      return signed(tbs, sign(algorithm.hash, tbs, t.issuer.key));
    },
  };
}

export interface RequestInput {
  subject: Buffer;
  key: KeyObject;
  ca?: boolean;
  challengePassword?: string;
  subjectAltNames?: San[];
  extendedKeyUsage?: string[];
}

/** A PKCS#10 certificate request, self-signed by the key it certifies. */
export async function certificationRequest(input: RequestInput): Promise<Buffer> {
  const publicKey = createPublicKey(input.key);
  const extensions: Buffer[] = [];
  if (input.ca) extensions.push(extension('2.5.29.19', seq(TRUE), true), extension('2.5.29.15', namedBits([KeyUsage.keyCertSign, KeyUsage.cRLSign]), true));
  if (input.subjectAltNames?.length) extensions.push(extension('2.5.29.17', generalNames(input.subjectAltNames)));
  if (input.extendedKeyUsage?.length) extensions.push(extension('2.5.29.37', seq(...input.extendedKeyUsage.map(oid))));
  const attributes: Buffer[] = [];
  if (input.challengePassword !== undefined) attributes.push(seq(oid('1.2.840.113549.1.9.7'), set(utf8(input.challengePassword))));
  if (extensions.length) attributes.push(seq(oid('1.2.840.113549.1.9.14'), set(seq(...extensions))));
  const info = seq(int(0), input.subject, publicKey.export({ type: 'spki', format: 'der' }), tlv(0xa0, Buffer.concat(attributes)));
  const algorithm = signatureAlgorithm(input.key);
  return seq(info, algorithm.id, bits(await signAsync(algorithm.hash, info, input.key)));
}

export class RequestError extends Error {}

/**
 * The public key of a PKCS#10 request (DER), once its self-signature is checked: what a CA needs of
 * a request whose subject and usages it decides itself.
 */
export function requestPublicKey(der: Buffer): Buffer {
  try {
    const [info, algorithm, signature] = children(readTlv(der).content);
    const spki = children(readTlv(info!).content)[2]!;
    const [algorithmId] = children(readTlv(algorithm!).content);
    const hash = SIGNATURE_HASHES[readTlv(algorithmId!).content.toString('hex')];
    if (!hash) throw new RequestError('the request is signed with an algorithm this CA does not take (RSA or ECDSA with SHA-256 or SHA-384)');
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    if (!verify(hash, info!, key, readTlv(signature!).content.subarray(1))) throw new RequestError('the request\'s signature does not match its key');
    return spki;
  } catch (e) {
    throw e instanceof RequestError ? e : new RequestError(`not a PKCS#10 certificate request: ${(e as Error).message}`);
  }
}

/** Signature algorithm OIDs (their DER content, hex) and their hash. */
const SIGNATURE_HASHES: Record<string, string> = {
  [oid('1.2.840.113549.1.1.11').subarray(2).toString('hex')]: 'sha256',
  [oid('1.2.840.113549.1.1.12').subarray(2).toString('hex')]: 'sha384',
  [oid('1.2.840.10045.4.3.2').subarray(2).toString('hex')]: 'sha256',
  [oid('1.2.840.10045.4.3.3').subarray(2).toString('hex')]: 'sha384',
};

function extension(id: string, value: Buffer, critical = false): Buffer {
  return seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
}

function generalNames(names: San[]): Buffer {
  return seq(
    ...names.map((n) => {
      switch (n.type) {
        case 'Email':
          return tlv(0x81, Buffer.from(ascii(n.value), 'latin1'));
        case 'DNS':
          return tlv(0x82, Buffer.from(ascii(n.value), 'latin1'));
        case 'URI':
          return tlv(0x86, Buffer.from(ascii(n.value), 'latin1'));
        case 'IP':
          return tlv(0x87, ipBytes(n.value));
        case 'UPN': // otherName: the Microsoft UPN, as smart-card logon reads it
          return tlv(0xa0, Buffer.concat([oid(OID.upn), explicit(0, utf8(n.value))]));
      }
    }),
  );
}

function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  if (!isIPv6(address)) throw new Error(`${address} is not an IP address`);
  const [head, tail = ''] = address.split('::');
  const groups = (part: string) => (part ? part.split(':') : []);
  const missing = 8 - groups(head!).length - groups(tail).length;
  const all = address.includes('::') ? [...groups(head!), ...Array<string>(missing).fill('0'), ...groups(tail)] : groups(head!);
  return Buffer.from(all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]));
}

/** The subject Name of a certificate (DER) as encoded (node gives it as text only): the sixth field of TBSCertificate. */
export function subjectOf(cert: Buffer): Buffer {
  const [tbs] = children(readTlv(cert).content);
  return children(readTlv(tbs!).content)[5]!;
}

/** The subject key identifier of a certificate (DER), if it has one. */
export function subjectKeyIdOf(cert: Buffer): Buffer | undefined {
  const [tbs] = children(readTlv(cert).content);
  const extensions = children(readTlv(tbs!).content).find((f) => f[0] === 0xa3);
  if (!extensions) return undefined;
  for (const ext of children(readTlv(readTlv(extensions).content).content)) {
    const fields = children(readTlv(ext).content);
    if (fields[0]!.equals(oid('2.5.29.14'))) return readTlv(readTlv(fields.at(-1)!).content).content;
  }
  return undefined;
}

/** Key identifier: SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
export function keyId(spki: Buffer): Buffer {
  const [, key] = children(readTlv(spki).content);
  return createHash('sha1').update(readTlv(key!).content.subarray(1)).digest();
}

const spkiOf = (k: KeyObject | Buffer) => (Buffer.isBuffer(k) ? k : k.export({ type: 'spki', format: 'der' }));

/** Positive, non-zero, 128 random bits (CA/Browser Forum asks for at least 64); made of `random` (16 bytes) when given. */
export function serialNumber(random = randomBytes(16)): Buffer {
  random[0] = (random[0]! & 0x7f) | 0x01;
  return random;
}

function signatureAlgorithm(key: KeyObject): { id: Buffer; hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { id: seq(oid('1.2.840.113549.1.1.11'), NULL), hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') {
    return key.asymmetricKeyDetails?.namedCurve === 'secp384r1'
      ? { id: seq(oid('1.2.840.10045.4.3.3')), hash: 'sha384' }
      : { id: seq(oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
  }
  throw new Error(`unsupported key type ${key.asymmetricKeyType}`);
}

function signAsync(hash: string, data: Buffer, key: KeyObject): Promise<Buffer> {
  return new Promise((resolve, reject) => sign(hash, data, key, (err, sig) => (err ? reject(err) : resolve(sig))));
}

export const toPem = (der: Buffer, label = 'CERTIFICATE') => `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
