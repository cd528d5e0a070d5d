// Key pairs, made with the platform's crypto on its thread pool and kept as PKCS#8 DER (sealed by
// the engine before they reach the store).
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';

/** A private key for a keyAlgorithm of the API: RSA-2048/3072/4096, ECDSA-P256/P384. */
export function makeKey(algorithm: string): Promise<KeyObject> {
  const [family, size] = algorithm.split('-') as [string, string];
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, _pub: KeyObject, key: KeyObject) => (err ? reject(err) : resolve(key));
    if (family === 'RSA') generateKeyPair('rsa', { modulusLength: Number(size) }, done);
    else generateKeyPair('ec', { namedCurve: size === 'P384' ? 'P-384' : 'P-256' }, done);
  });
}

export const pkcs8 = (key: KeyObject) => key.export({ type: 'pkcs8', format: 'der' });
export const privateKey = (der: Buffer) => createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });

/** SHA-256 of the SubjectPublicKeyInfo (of a private or public key), colon-separated as certificate tools print it. */
export function publicKeySha256(key: KeyObject): string {
  const spki = (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').toUpperCase().match(/../g)!.join(':');
}

/** The keyAlgorithm name of a key, to compare with what a spec asks for. */
export function algorithmOf(key: KeyObject): string {
  if (key.asymmetricKeyType === 'rsa') return `RSA-${key.asymmetricKeyDetails?.modulusLength}`;
  return key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'ECDSA-P384' : 'ECDSA-P256';
}
