// A throwaway CA and a TLS server certificate it signed for 127.0.0.1 and localhost (src/pki writes
// no IP subjectAltName, and clients check the IP of https://127.0.0.1).
import { readFileSync } from 'node:fs';
import { issueCert, makeCa } from './certs.js';

export interface ServerCertificate {
  /** The CA certificate: what a client trusts (NODE_EXTRA_CA_CERTS=caFile, or { ca: caPem }). */
  caFile: string;
  caPem: string;
  certFile: string;
  keyFile: string;
}

export async function makeServerCertificate(dir: string, caName: string): Promise<ServerCertificate> {
  const ca = await makeCa(dir, 'ca', caName);
  const server = await issueCert(dir, ca, 'server', { subject: '/CN=localhost', usage: 'serverAuth', san: 'IP:127.0.0.1,DNS:localhost' });
  return { caFile: ca.cert, caPem: readFileSync(ca.cert, 'utf8'), certFile: server.cert, keyFile: server.key };
}
