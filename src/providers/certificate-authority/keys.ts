// CA key pairs: made with the platform's crypto, kept as PKCS#8 DER (sealed by the engine).
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';

export function makeKeyPair(algorithm: string): Promise<Buffer> {
  const [family, size] = algorithm.split('-') as [string, string];
  const done = (resolve: (b: Buffer) => void, reject: (e: Error) => void) => (err: Error | null, _pub: KeyObject, key: KeyObject) =>
    err ? reject(err) : resolve(key.export({ type: 'pkcs8', format: 'der' }));
  return new Promise((resolve, reject) => {
    if (family === 'RSA') generateKeyPair('rsa', { modulusLength: Number(size) }, done(resolve, reject));
    else generateKeyPair('ec', { namedCurve: size === 'P384' ? 'P-384' : 'P-256' }, done(resolve, reject));
  });
}

/** SHA-256 of the SubjectPublicKeyInfo, colon-separated as certificate tools print it. */
export function publicKeySha256(pkcs8: Buffer): string {
  const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex').toUpperCase().match(/../g)!.join(':');
}
