// Key pairs, made with the platform's crypto (on its thread pool, but for the EC keys of identity
// certificates: see makeKeyDer) and kept as PKCS#8 DER (sealed by the engine before they reach the store).
import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { bits, explicit, int, octets, oid, seq } from './der.js';

/** A private key for a keyAlgorithm of the API: RSA-2048/3072/4096, ECDSA-P256/P384. */
export function makeKey(algorithm: string): Promise<KeyObject> {
  const [family, size] = algorithm.split('-') as [string, string];
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: KeyObject, key: KeyObject) => (err ? reject(err) : resolve(key));
    if (family === 'RSA') generateKeyPair('rsa', { modulusLength: Number(size) }, done);
    else generateKeyPair('ec', { namedCurve: size === 'P384' ? 'P-384' : 'P-256' }, done);
  });
}

const CURVES = {
  P256: { ecdh: createECDH('prime256v1'), oid: '1.2.840.10045.3.1.7', bytes: 32 },
  P384: { ecdh: createECDH('secp384r1'), oid: '1.3.132.0.34', bytes: 48 },
};

/**
 * A key pair as PKCS#8 and SubjectPublicKeyInfo DER, for issuing many. An EC key is made as raw
 * numbers (ECDH: same curve, same key; one object per curve, as each generateKeys makes a new pair)
 * and encoded here (RFC 5915, RFC 5480): OpenSSL's encoders cost several times the key itself, and
 * exporting a fresh key as JWK can deadlock node 20 when a garbage collection falls inside it.
 */
export async function makeKeyDer(algorithm: string): Promise<{ pkcs8: Buffer; spki: Buffer }> {
  const [family, size] = algorithm.split('-') as [string, string];
  if (family !== 'ECDSA') {
    const key = await makeKey(algorithm);
    return { pkcs8: pkcs8(key), spki: createPublicKey(key).export({ type: 'spki', format: 'der' }) };
  }
  return ecKeyDer(size!);
}

/** An EC key pair (size P256 or P384) as PKCS#8 and SubjectPublicKeyInfo DER, made on this thread. */
export function ecKeyDer(size: string): { pkcs8: Buffer; spki: Buffer } {
  const curve = CURVES[size as keyof typeof CURVES];
  const point = curve.ecdh.generateKeys();
  // The private key is a fixed-length octet string; node drops leading zero bytes.
  const d = Buffer.alloc(curve.bytes);
  const raw = curve.ecdh.getPrivateKey();
  raw.copy(d, curve.bytes - raw.length);
  const algorithmId = seq(oid('1.2.840.10045.2.1'), oid(curve.oid));
  return {
    pkcs8: seq(int(0), algorithmId, octets(seq(int(1), octets(d), explicit(1, bits(point))))),
    spki: seq(algorithmId, bits(point)),
  };
}

export const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'der' });
export const privateKey = (der: Buffer) => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });

/** SHA-256 of the SubjectPublicKeyInfo (of a private or public key), colon-separated as certificate tools print it. */
export function publicKeySha256(key: KeyObject): string {
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').toUpperCase().match(/../g)!.join(':');
}
