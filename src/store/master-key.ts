// The master key: seals key material in the store (AES-256-GCM) and keys the digests of secret values.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const VERSION = 1;

export class MasterKeyError extends Error {}

export class MasterKey {
  private readonly sealKey: Buffer;
  private readonly digestKey: Buffer;
  /** Names the key without revealing it: the store remembers it to refuse a different key. */
  readonly id: string;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new MasterKeyError('the master key must be 32 bytes (64 hex digits or 44 base64 characters)');
    const derive = (info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, 32));
    this.sealKey = derive('mdmops seal v1');
    this.digestKey = derive('mdmops secret digest v1');
    this.id = derive('mdmops key id').subarray(0, 8).toString('hex');
  }

  /** `aad` binds the sealed value to where it belongs, so a blob moved to another resource fails to open. */
  seal(plain: Buffer, aad: string): Buffer {
    const nonce = this.nextNonce();
    const cipher = createCipheriv('aes-256-gcm', this.sealKey, nonce).setAAD(Buffer.from(aad));
    const out = Buffer.allocUnsafe(29 + plain.length);
    out[0] = VERSION;
    nonce.copy(out, 1);
    cipher.update(plain).copy(out, 29);
    cipher.final();
    cipher.getAuthTag().copy(out, 13);
    return out;
  }

  // Nonces are drawn from randomness taken 256 at a time: a call for each cost more than the
  // sealing when a directory's identity keys are sealed. Each is used once.
  private nonces = Buffer.alloc(0);
  private nextNonce(): Buffer {
    if (!this.nonces.length) this.nonces = randomBytes(12 * 256);
    const nonce = this.nonces.subarray(0, 12);
    this.nonces = this.nonces.subarray(12);
    return nonce;
  }

  open(sealed: Buffer, aad: string): Buffer {
    if (sealed[0] !== VERSION || sealed.length < 29) throw new MasterKeyError(`sealed value for ${aad} is not in a format this mdmops knows`);
    const decipher = createDecipheriv('aes-256-gcm', this.sealKey, sealed.subarray(1, 13)).setAAD(Buffer.from(aad));
    decipher.setAuthTag(sealed.subarray(13, 29));
    try {
      return Buffer.concat([decipher.update(sealed.subarray(29)), decipher.final()]);
    } catch {
      throw new MasterKeyError(`sealed value for ${aad} does not open with this master key (wrong key, or the store was tampered with)`);
    }
  }

  /** Tells whether a secret changed without keeping anything a guess could be checked against offline. */
  digest(value: string): string {
    return createHmac('sha256', this.digestKey).update(value).digest('hex').slice(0, 32);
  }
}

export function parseKey(text: string, from: string): MasterKey {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if (bytes.length !== 32) throw new MasterKeyError(`${from}: the master key must be 32 bytes, as 64 hex digits or base64`);
  return new MasterKey(bytes);
}

export interface KeySource {
  /** MDMOPS_MASTER_KEY */
  env?: string;
  /** --master-key-file or MDMOPS_MASTER_KEY_FILE */
  file?: string;
  /** Standalone mode: created here on first use when nothing else is given. */
  createAt?: string;
}

export function loadMasterKey(source: KeySource): { key: MasterKey; created?: string } {
  if (source.env) return { key: parseKey(source.env, 'MDMOPS_MASTER_KEY') };
  const file = source.file ?? source.createAt;
  if (!file) throw new MasterKeyError('no master key: set MDMOPS_MASTER_KEY or --master-key-file (every replica sharing a store needs the same key)');
  if (source.file) return readKeyFile(source.file);
  // Written aside and linked into place: a crash never leaves a half-written key, and of two
  // processes starting at once, one key wins and both use it. The aside name is random and made
  // with O_EXCL|O_NOFOLLOW: a file or link planted in the folder beforehand is never written through.
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const aside = `${file}.${randomBytes(8).toString('hex')}.tmp`;
  const fd = openSync(aside, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    writeSync(fd, `${randomBytes(32).toString('base64')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(aside, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return readKeyFile(file);
  } finally {
    rmSync(aside, { force: true });
  }
  return { ...readKeyFile(file), created: file };
}

/** Reads a key file that is the owner's alone: a link (which could point anywhere) or a file others may read is refused. */
function readKeyFile(file: string) {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new MasterKeyError(`${file} is a symbolic link: give the master key file itself (or its content in MDMOPS_MASTER_KEY)`);
    throw new MasterKeyError(`${file}: cannot read the master key (${code})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new MasterKeyError(`${file} is not a regular file`);
    const mode = stat.mode & 0o777;
    if (mode & 0o077) throw new MasterKeyError(`${file} may be read by others (mode ${mode.toString(8)}): chmod 600 it`);
    return { key: parseKey(readFileSync(fd, 'utf8'), file) };
  } finally {
    closeSync(fd);
  }
}
