// A SCEP client (RFC 8894): fetch the CA, enrol a CSR, return the issued certificate.
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  publicEncrypt,
  randomBytes,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type Forge from 'node-forge';
import { forge } from './forge.js';
import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { hostPort, type Dial } from '../net/dial.js';
import { readCapped, TooLarge } from '../util/read-capped.js';
import { messageOf } from '../util/message-of.js';
import { HOUR, DAY } from '../api/duration.js';

export interface ScepTransport {
  request(method: 'GET' | 'POST', url: string, body?: Buffer): Promise<{ status: number; contentType: string; body: Buffer }>;
}

export class ScepError extends Error {
  constructor(message: string, readonly kind: 'unreachable' | 'rejected' | 'protocol' | 'pin') {
    super(message);
    this.name = 'ScepError';
  }
}

const TIMEOUT_MS = 15_000;

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** CA certificates and PKI messages are a few KiB: an answer past this is not a SCEP server's. */
const MAX_ANSWER_BYTES = 1 << 20;

/** How a SCEP request reaches its server: `lookup` resolves host names (an outbound policy's guard, say), or `dial` opens the connection (a connector's tunnel). */
export interface ScepRoute {
  lookup?: LookupFunction;
  dial?: Dial;
}

/** The connection of one request through `dial`, with TLS on top for https. */
function dialled(dial: Dial, target: URL) {
  const { host, port } = hostPort(target.href);
  return (_options: unknown, done: (error: Error | null, socket: Duplex) => void): undefined => {
    dial(host, port).then(
      (stream) => done(null, target.protocol === 'https:' ? tlsConnect({ socket: stream, servername: host }) : stream),
      (e: Error) => done(e, undefined as unknown as Duplex),
    );
  };
}

/** SCEP over HTTP(S), reaching its server as `route` says. */
export const httpTransportWith = (route: ScepRoute = {}): ScepTransport => ({
  request(method, url, body) {
    return new Promise((resolve, reject) => {
      const target = new URL(url);
      let timedOut = false;
      const fail = (reason: string) => {
        clearTimeout(timer);
        reject(new ScepError(`SCEP server ${target.origin} unreachable: ${timedOut ? `no answer within ${TIMEOUT_MS / 1000} s` : reason}`, 'unreachable'));
      };
      const headers = body ? { 'content-type': 'application/x-pki-message', 'content-length': body.length } : undefined;
      const how = route.dial ? { createConnection: dialled(route.dial, target) } : route.lookup ? { lookup: route.lookup } : {};
      const req = (target.protocol === 'https:' ? https : http).request(target, { method, headers, ...how }, (res) => {
        readCapped(res, MAX_ANSWER_BYTES).then(
          (answer) => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: answer });
          },
          (e: unknown) => {
            req.destroy();
            fail(e instanceof TooLarge ? `the answer is ${e.message}` : 'connection lost');
          },
        );
      });
      // A deadline for the whole exchange: a socket idle timeout alone would let a trickling server hold us forever.
      const timer = setTimeout(() => {
        timedOut = true;
        req.destroy();
      }, TIMEOUT_MS);
      req.on('error', (e: NodeJS.ErrnoException) => fail(NETWORK_REASONS[e.code ?? ''] ?? e.message));
      req.end(body);
    });
  },
});

export const httpTransport = httpTransportWith();

// ---- ASN.1 building and reading, on node-forge's tree (values are binary strings) ----

const asn1 = () => forge().asn1;
type Asn1 = Forge.asn1.Asn1;
const UNIVERSAL = () => asn1().Class.UNIVERSAL;
const CONTEXT = () => asn1().Class.CONTEXT_SPECIFIC;
const T = () => asn1().Type;

const seq = (...items: Asn1[]) => asn1().create(UNIVERSAL(), T().SEQUENCE, true, items);
const set = (...items: Asn1[]) => asn1().create(UNIVERSAL(), T().SET, true, items);
const oid = (id: string) => asn1().create(UNIVERSAL(), T().OID, false, asn1().oidToDer(id).getBytes());
const int = (n: number) => asn1().create(UNIVERSAL(), T().INTEGER, false, asn1().integerToDer(n).getBytes());
const octets = (b: Buffer) => asn1().create(UNIVERSAL(), T().OCTETSTRING, false, b.toString('binary'));
const printable = (s: string) => asn1().create(UNIVERSAL(), T().PRINTABLESTRING, false, s);
const utcTime = (d: Date) => asn1().create(UNIVERSAL(), T().UTCTIME, false, asn1().dateToUtcTime(d));
const nullValue = () => asn1().create(UNIVERSAL(), T().NULL, false, '');
const explicit = (tag: number, item: Asn1) => asn1().create(CONTEXT(), tag, true, [item]);
const algorithm = (id: string, params?: Asn1) => seq(oid(id), ...(params ? [params] : []));

const toDer = (node: Asn1) => Buffer.from(asn1().toDer(node).getBytes(), 'binary');
const fromDer = (der: Buffer) => asn1().fromDer(der.toString('binary'));

function children(node: Asn1 | undefined, what: string): Asn1[] {
  if (!node || !Array.isArray(node.value)) throw new ScepError(`malformed ${what}`, 'protocol');
  return node.value;
}
function child(node: Asn1 | undefined, index: number, what: string): Asn1 {
  const found = children(node, what)[index];
  if (!found) throw new ScepError(`malformed ${what}`, 'protocol');
  return found;
}
function oidOf(node: Asn1 | undefined): string {
  return node && node.type === T().OID && typeof node.value === 'string' ? asn1().derToOid(node.value) : '';
}
/** Content of an OCTET STRING or [n] IMPLICIT OCTET STRING, also in the chunked (constructed) BER form. */
function bytesOf(node: Asn1): Buffer {
  return Array.isArray(node.value) ? Buffer.concat(node.value.map(bytesOf)) : Buffer.from(node.value, 'binary');
}
const isContext = (node: Asn1 | undefined, tag: number) => node?.tagClass === CONTEXT() && node.type === tag;

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  rsaEncryption: '1.2.840.113549.1.1.1',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  messageType: '2.16.840.1.113733.1.9.2',
  pkiStatus: '2.16.840.1.113733.1.9.3',
  failInfo: '2.16.840.1.113733.1.9.4',
  senderNonce: '2.16.840.1.113733.1.9.5',
  recipientNonce: '2.16.840.1.113733.1.9.6',
  transactionID: '2.16.840.1.113733.1.9.7',
};
const DIGESTS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const RSA_SIGNATURES: Record<string, string> = { sha1: '1.2.840.113549.1.1.5', sha256: '1.2.840.113549.1.1.11' };
const CIPHERS: Record<string, string> = {
  '2.16.840.1.101.3.4.1.2': 'aes-128-cbc',
  '2.16.840.1.101.3.4.1.22': 'aes-192-cbc',
  '2.16.840.1.101.3.4.1.42': 'aes-256-cbc',
  '1.2.840.113549.3.7': 'des-ede3-cbc',
};
const DES_CBC = '1.3.14.3.2.7';
const FAIL_INFO = ['badAlg', 'badMessageCheck', 'badRequest', 'badTime', 'badCertId'];
const MESSAGE_TYPE = { certRep: '3', pkcsReq: '19' };
const PKI_STATUS = { success: '0', failure: '2', pending: '3' };

/** IssuerAndSerialNumber of a certificate, as CMS names a signer or a recipient. */
function issuerAndSerial(certDer: Buffer): Asn1 {
  const tbs = child(fromDer(certDer), 0, 'certificate');
  const offset = isContext(child(tbs, 0, 'certificate'), 0) ? 1 : 0; // [0] version is absent in v1 certificates
  return seq(child(tbs, offset + 2, 'certificate'), child(tbs, offset, 'certificate'));
}

/** The certificates of a degenerate (certificates-only) SignedData, as DER. */
function signedDataCertificates(contentInfo: Buffer): Buffer[] {
  const ci = fromDer(contentInfo);
  if (oidOf(child(ci, 0, 'PKCS#7')) !== OID.signedData) throw new ScepError('PKCS#7 is not SignedData', 'protocol');
  return children(child(child(ci, 1, 'PKCS#7'), 0, 'PKCS#7'), 'SignedData')
    .filter((n) => isContext(n, 0))
    .flatMap((n) => children(n, 'certificates').map(toDer));
}

// ---- the SCEP operations ----

function operationUrl(base: string, operation: string, message?: string): string {
  const url = new URL(base);
  url.searchParams.set('operation', operation);
  if (message !== undefined) url.searchParams.set('message', message);
  return url.toString();
}

async function call(t: ScepTransport, operation: string, method: 'GET' | 'POST', url: string, body?: Buffer) {
  const res = await t.request(method, url, body);
  if (res.status !== 200) {
    const detail = res.body.toString('utf8').trim().split('\n')[0]?.slice(0, 200);
    throw new ScepError(`${operation}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`, 'rejected');
  }
  return res;
}

export async function getCaCaps(url: string, t: ScepTransport = httpTransport): Promise<string[]> {
  const res = await call(t, 'GetCACaps', 'GET', operationUrl(url, 'GetCACaps'));
  return res.body.toString('utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
}

export async function getCaCert(url: string, t: ScepTransport = httpTransport): Promise<Buffer[]> {
  const res = await call(t, 'GetCACert', 'GET', operationUrl(url, 'GetCACert'));
  const type = res.contentType.split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-x509-ca-cert' && type !== 'application/x-x509-ca-ra-cert') {
    throw new ScepError(`GetCACert: unexpected content type ${JSON.stringify(res.contentType)}`, 'protocol');
  }
  try {
    const certs = type === 'application/x-x509-ca-cert' ? [res.body] : signedDataCertificates(res.body);
    return certs.map((der) => Buffer.from(new X509Certificate(der).raw));
  } catch (e) {
    throw e instanceof ScepError ? e : new ScepError(`GetCACert: unreadable certificate (${messageOf(e)})`, 'protocol');
  }
}

export interface EnrollInput {
  url: string;
  csrDer: Buffer;
  /** RSA key of the CSR, PKCS#8 DER */
  keyPkcs8: Buffer;
  /** SHA-256 hex, colons optional, any case */
  caFingerprint?: string;
  transport?: ScepTransport;
}

/** RFC 8894 3.5.2: SCEPStandard promises AES, SHA-256 and POSTPKIOperation; keywords are case-insensitive. */
function capabilities(caps: string[]): (cap: string) => boolean {
  const known = new Set(caps.map((c) => c.toLowerCase()));
  if (known.has('scepstandard')) ['aes', 'sha-256', 'postpkioperation'].forEach((c) => known.add(c));
  return (cap) => known.has(cap.toLowerCase());
}

const fingerprint = (der: Buffer) => createHash('sha256').update(der).digest('hex');

/** The CA certificates (basicConstraints cA) of a GetCACert answer; all of them if none says so. */
function caCertificatesOf(certs: X509Certificate[]): X509Certificate[] {
  const cas = certs.filter((c) => c.ca);
  return cas.length ? cas : certs;
}

/** The RA certificate allowed to decrypt (keyEncipherment, or no keyUsage restriction), else the CA. */
function recipientOf(certs: X509Certificate[]): X509Certificate {
  const ra = certs.filter((c) => !c.ca).find((c) => {
    // Node's X509Certificate does not expose keyUsage; forge does, and an RA we encrypt to is RSA anyway.
    const keyUsage = forge().pki.certificateFromAsn1(fromDer(Buffer.from(c.raw))).getExtension('keyUsage') as { keyEncipherment?: boolean } | undefined;
    return !keyUsage || keyUsage.keyEncipherment;
  });
  return ra ?? caCertificatesOf(certs)[0]!;
}

interface Csr {
  subject: Asn1;
  spki: Asn1;
  publicKey: KeyObject;
}

function readCsr(der: Buffer): Csr {
  const info = child(fromDer(der), 0, 'CSR');
  const spki = child(info, 2, 'CSR');
  return { subject: child(info, 1, 'CSR'), spki, publicKey: createPublicKey({ key: toDer(spki), format: 'der', type: 'spki' }) };
}

/** SCEP signs the request with a certificate for the key being enrolled: a short-lived self-signed one will do (RFC 8894 2.3). */
function selfSignedCertificate(csr: Csr, key: KeyObject, digest: string): Buffer {
  const signatureAlgorithm = algorithm(RSA_SIGNATURES[digest]!, nullValue());
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and minimally encoded
  const now = Date.now();
  const tbs = seq(
    explicit(0, int(2)),
    asn1().create(UNIVERSAL(), T().INTEGER, false, serial.toString('binary')),
    signatureAlgorithm,
    csr.subject,
    seq(utcTime(new Date(now - HOUR)), utcTime(new Date(now + DAY))), // an hour back for clock skew
    csr.subject,
    csr.spki,
  );
  const signature = sign(digest, toDer(tbs), key);
  return toDer(seq(tbs, signatureAlgorithm, asn1().create(UNIVERSAL(), T().BITSTRING, false, '\0' + signature.toString('binary'))));
}

/** EnvelopedData: the content under a fresh symmetric key, the key under the recipient's RSA key (PKCS#1 v1.5). */
function envelope(content: Buffer, recipient: X509Certificate, aes: boolean): Buffer {
  if (recipient.publicKey.asymmetricKeyType !== 'rsa') {
    throw new ScepError(`the SCEP recipient certificate has a ${recipient.publicKey.asymmetricKeyType} key; key transport needs RSA`, 'protocol');
  }
  const [cipherOid, cipherName, keyLength, ivLength] = aes
    ? ['2.16.840.1.101.3.4.1.42', 'aes-256-cbc', 32, 16]
    : ['1.2.840.113549.3.7', 'des-ede3-cbc', 24, 8];
  const key = randomBytes(keyLength);
  const iv = randomBytes(ivLength);
  const cipher = createCipheriv(cipherName, key, iv);
  const encrypted = Buffer.concat([cipher.update(content), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, key);
  return toDer(seq(oid(OID.envelopedData), explicit(0, seq(
    int(0),
    set(seq(int(0), issuerAndSerial(Buffer.from(recipient.raw)), algorithm(OID.rsaEncryption, nullValue()), octets(encryptedKey))),
    seq(oid(OID.data), algorithm(cipherOid, octets(iv)), asn1().create(CONTEXT(), 0, false, encrypted.toString('binary'))),
  ))));
}

const attribute = (type: string, value: Asn1) => seq(oid(type), set(value));

/** SignedData over `content` with SCEP's signed attributes, signed by `certDer`'s key. */
function signedMessage(content: Buffer, certDer: Buffer, key: KeyObject, digest: string, scepAttributes: Asn1[]): Buffer {
  const digestOid = Object.keys(DIGESTS).find((o) => DIGESTS[o] === digest)!;
  const attrs = [
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.messageDigest, octets(createHash(digest).update(content).digest())),
    ...scepAttributes,
  ];
  // DER orders a SET OF by encoding; verifiers (Go's pkcs7 among them) re-encode the attributes before checking the signature.
  const sorted = attrs.map((a) => ({ a, der: toDer(a) })).sort((x, y) => Buffer.compare(x.der, y.der)).map((x) => x.a);
  const signature = sign(digest, toDer(set(...sorted)), key);
  return toDer(seq(oid(OID.signedData), explicit(0, seq(
    int(1),
    set(algorithm(digestOid)),
    seq(oid(OID.data), explicit(0, octets(content))),
    asn1().create(CONTEXT(), 0, true, [fromDer(certDer)]),
    set(seq(
      int(1),
      issuerAndSerial(certDer),
      algorithm(digestOid),
      asn1().create(CONTEXT(), 0, true, sorted),
      algorithm(OID.rsaEncryption, nullValue()),
      octets(signature),
    )),
  ))));
}

interface CertRep {
  attributes: Map<string, Asn1>;
  content?: Buffer;
}

/** Reads a CertRep SignedData and checks its signature against one of the CA/RA certificates. */
function readCertRep(der: Buffer, signers: X509Certificate[]): CertRep {
  const ci = fromDer(der);
  if (oidOf(child(ci, 0, 'CertRep')) !== OID.signedData) throw new ScepError('CertRep is not PKCS#7 SignedData', 'protocol');
  const sd = children(child(child(ci, 1, 'CertRep'), 0, 'CertRep'), 'CertRep SignedData');
  const encapsulated = children(sd[2], 'CertRep content');
  const content = encapsulated[1] ? bytesOf(child(encapsulated[1], 0, 'CertRep content')) : undefined;
  const signerInfo = children(children(sd[sd.length - 1], 'CertRep signerInfos')[0], 'CertRep signerInfo');
  const [, sid, digestAlgorithm, signedAttrs, , signatureNode] = signerInfo;
  if (!sid || !digestAlgorithm || !isContext(signedAttrs, 0) || !signatureNode) throw new ScepError('malformed CertRep signerInfo', 'protocol');

  const sidDer = toDer(sid);
  const signer = signers.find((c) => toDer(issuerAndSerial(Buffer.from(c.raw))).equals(sidDer));
  if (!signer) throw new ScepError('CertRep is not signed by the CA or RA certificate', 'protocol');
  const digest = DIGESTS[oidOf(child(digestAlgorithm, 0, 'CertRep digestAlgorithm'))];
  if (!digest) throw new ScepError('CertRep uses an unsupported digest algorithm', 'protocol');

  const attributes = new Map<string, Asn1>();
  for (const attr of children(signedAttrs, 'CertRep attributes')) {
    attributes.set(oidOf(child(attr, 0, 'CertRep attribute')), child(child(attr, 1, 'CertRep attribute'), 0, 'CertRep attribute'));
  }
  const messageDigest = attributes.get(OID.messageDigest);
  if (!messageDigest || !bytesOf(messageDigest).equals(createHash(digest).update(content ?? Buffer.alloc(0)).digest())) {
    throw new ScepError('CertRep message digest does not match its content', 'protocol');
  }
  // The signature covers the attributes encoded as a SET, not with the [0] IMPLICIT tag they travel under.
  const signedBytes = toDer(set(...children(signedAttrs, 'CertRep attributes')));
  if (!verify(digest, signedBytes, signer.publicKey, bytesOf(signatureNode))) {
    throw new ScepError('CertRep signature does not verify against the CA or RA certificate', 'protocol');
  }
  return { attributes, content };
}

/** Opens an EnvelopedData addressed to `certDer`. */
function openEnvelope(der: Buffer, certDer: Buffer, key: Forge.pki.rsa.PrivateKey): Buffer {
  const ci = fromDer(der);
  if (oidOf(child(ci, 0, 'CertRep envelope')) !== OID.envelopedData) throw new ScepError('CertRep content is not EnvelopedData', 'protocol');
  const ed = children(child(ci, 1, 'CertRep envelope'), 'CertRep envelope');
  const body = children(ed[0], 'EnvelopedData');
  const start = isContext(body[1], 0) ? 2 : 1; // skip originatorInfo
  const me = toDer(issuerAndSerial(certDer));
  const recipient = children(body[start], 'recipientInfos').find((ri) => Array.isArray(ri.value) && ri.value[1] && toDer(ri.value[1]).equals(me));
  if (!recipient) throw new ScepError('CertRep is not encrypted to our certificate', 'protocol');
  // Node 20's privateDecrypt refuses PKCS#1 v1.5 padding (Marvin attack mitigation); SCEP servers use it, so forge decrypts the key.
  const contentKey = Buffer.from(key.decrypt(bytesOf(child(recipient, 3, 'recipientInfo')).toString('binary'), 'RSAES-PKCS1-V1_5'), 'binary');
  const [, alg, encrypted] = children(body[start + 1], 'encryptedContentInfo');
  if (!encrypted) throw new ScepError('CertRep envelope has no content', 'protocol');
  return decrypt(oidOf(child(alg, 0, 'encryptedContentInfo')), contentKey, bytesOf(child(alg, 1, 'encryptedContentInfo')), bytesOf(encrypted));
}

function decrypt(algorithmOid: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  // micromdm's scepserver encrypts its replies with single DES whatever the caps say; OpenSSL 3 keeps DES in the
  // legacy provider, which Node does not load, so forge decrypts it.
  if (algorithmOid === DES_CBC) {
    const decipher = forge().cipher.createDecipher('DES-CBC', key.toString('binary'));
    decipher.start({ iv: iv.toString('binary') });
    decipher.update(forge().util.createBuffer(data.toString('binary')));
    if (!decipher.finish()) throw new ScepError('CertRep content does not decrypt', 'protocol');
    return Buffer.from(decipher.output.getBytes(), 'binary');
  }
  const name = CIPHERS[algorithmOid];
  if (!name) throw new ScepError(`CertRep uses an unsupported content encryption algorithm (${algorithmOid})`, 'protocol');
  const decipher = createDecipheriv(name, key, iv);
  return Buffer.concat([decipher.update(data), decipher.final()]);
}

const printableOf = (node: Asn1 | undefined) => (node && typeof node.value === 'string' ? node.value : undefined);

export async function enroll(input: EnrollInput): Promise<{ certificate: Buffer; caCertificates: Buffer[] }> {
  const t = input.transport ?? httpTransport;
  const csr = readCsr(input.csrDer);
  const key = createPrivateKey({ key: input.keyPkcs8, format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(key);
  if (!publicKey.equals(csr.publicKey)) throw new Error('the CSR is not for keyPkcs8: their public keys differ');

  const has = capabilities(await getCaCaps(input.url, t));
  const caCertificates = await getCaCert(input.url, t);
  const all = caCertificates.map((der) => new X509Certificate(der));
  let anchors = caCertificatesOf(all);
  if (input.caFingerprint !== undefined) {
    const pinned = input.caFingerprint.replace(/[:\s]/g, '').toLowerCase();
    const actual = anchors.map((c) => fingerprint(Buffer.from(c.raw)));
    anchors = anchors.filter((_, i) => actual[i] === pinned);
    if (!anchors.length) {
      throw new ScepError(`CA certificate SHA-256 fingerprint ${actual.join(', ')} does not match the pinned ${pinned}`, 'pin');
    }
  }
  // An RA counts only when the CA we trust signed it: else a man in the middle could add his own
  // and read the challenge, or sign the reply.
  const certs = [...anchors, ...all.filter((c) => !anchors.includes(c) && anchors.some((a) => c.checkIssued(a) && c.verify(a.publicKey)))];

  const digest = has('SHA-256') ? 'sha256' : 'sha1';
  const signerCert = selfSignedCertificate(csr, key, digest);
  const transactionId = createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  const senderNonce = randomBytes(16);
  const message = signedMessage(envelope(input.csrDer, recipientOf(certs), has('AES')), signerCert, key, digest, [
    attribute(OID.messageType, printable(MESSAGE_TYPE.pkcsReq)),
    attribute(OID.transactionID, printable(transactionId)),
    attribute(OID.senderNonce, octets(senderNonce)),
  ]);

  const res = has('POSTPKIOperation')
    ? await call(t, 'PKIOperation', 'POST', operationUrl(input.url, 'PKIOperation'), message)
    : await call(t, 'PKIOperation', 'GET', operationUrl(input.url, 'PKIOperation', message.toString('base64')));

  try {
    const rep = readCertRep(res.body, certs);
    const attr = (type: string) => rep.attributes.get(type);
    if (printableOf(attr(OID.messageType)) !== MESSAGE_TYPE.certRep) throw new ScepError('reply is not a CertRep', 'protocol');
    if (printableOf(attr(OID.transactionID)) !== transactionId) throw new ScepError('CertRep is for another transaction', 'protocol');
    const recipientNonce = attr(OID.recipientNonce);
    if (!recipientNonce || !bytesOf(recipientNonce).equals(senderNonce)) throw new ScepError('CertRep recipientNonce is not our senderNonce', 'protocol');

    const status = printableOf(attr(OID.pkiStatus));
    if (status === PKI_STATUS.failure) {
      const code = printableOf(attr(OID.failInfo));
      throw new ScepError(`SCEP server rejected the request: ${FAIL_INFO[Number(code)] ?? `failInfo ${code ?? 'missing'}`}`, 'rejected');
    }
    if (status === PKI_STATUS.pending) throw new ScepError('SCEP server holds the request: pending manual approval', 'rejected');
    if (status !== PKI_STATUS.success || !rep.content) throw new ScepError(`CertRep has pkiStatus ${status ?? 'missing'}`, 'protocol');

    const forgeKey = forge().pki.privateKeyFromAsn1(fromDer(input.keyPkcs8));
    const issued = signedDataCertificates(openEnvelope(rep.content, signerCert, forgeKey));
    const certificate = issued.find((der) => new X509Certificate(der).publicKey.equals(csr.publicKey));
    if (!certificate) throw new ScepError('CertRep holds no certificate for our key', 'protocol');
    return { certificate, caCertificates };
  } catch (e) {
    throw e instanceof ScepError ? e : new ScepError(`unreadable CertRep: ${messageOf(e)}`, 'protocol');
  }
}
