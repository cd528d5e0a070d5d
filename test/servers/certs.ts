// Throwaway certificates for test servers, made with openssl as an administrator would: a CA, and
// certificates it signs (P-256 keys: fast to make).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export interface CertFiles {
  cert: string;
  key: string;
}

/** A self-signed CA valid two days: DIR/NAME.pem and DIR/NAME.key. */
export async function makeCa(dir: string, name: string, commonName: string): Promise<CertFiles> {
  const files = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
  await run('openssl', ['req', '-x509', ...EC, '-keyout', files.key, '-out', files.cert, '-days', '2', '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return files;
}

export interface LeafOptions {
  /** openssl's form: /CN=admin/O=system:masters */
  subject: string;
  /** serverAuth or clientAuth */
  usage: 'serverAuth' | 'clientAuth';
  /** subjectAltName value, e.g. IP:127.0.0.1,DNS:localhost */
  san?: string;
}

/** A certificate the CA signs, valid two days: DIR/NAME.pem and DIR/NAME.key. */
export async function issueCert(dir: string, ca: CertFiles, name: string, options: LeafOptions): Promise<CertFiles> {
  const p = (ext: string) => join(dir, `${name}.${ext}`);
  await run('openssl', ['req', ...EC, '-keyout', p('key'), '-out', p('csr'), '-subj', options.subject]);
  const extensions = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', `extendedKeyUsage=${options.usage}`];
  if (options.san) extensions.push(`subjectAltName=${options.san}`);
  writeFileSync(p('ext'), extensions.join('\n') + '\n');
  await run('openssl', ['x509', '-req', '-in', p('csr'), '-CA', ca.cert, '-CAkey', ca.key, '-set_serial', `0x${randomBytes(8).toString('hex')}`,
    '-days', '2', '-sha256', '-extfile', p('ext'), '-out', p('pem')]);
  return { cert: p('pem'), key: p('key') };
}
