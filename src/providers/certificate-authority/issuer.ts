// What issuing identity certificates through a CertificateAuthority looks like, whatever its type
// (each type opens its issuer in its own file), and the helpers several types share.
import { limiter } from '../../util/limit.js';
import type { San } from '../../pki/certificate.js';
import { readCertificates } from '../../pki/x509.js';

/** What the certificates issued together share. */
export interface IssueProfile {
  keyAlgorithm: string;
  validity: string;
  extendedKeyUsage: string[];
}

/** What each certificate says of its user. */
export interface IssueRequest {
  /** Encoded subject Name (it may be encoded only when read, and fail then: that request fails). */
  subject: Buffer;
  subjectAltNames: San[];
}

export interface Issued {
  certificate: Buffer;
  /** The private key, PKCS#8 DER. */
  pkcs8: Buffer;
  /** PEM: the CAs above it, when they come with it (ACME). */
  chain?: string;
  /** Known when we signed it ourselves; otherwise read from the certificate. */
  facts?: { serial: string; notBefore: string; notAfter: string };
}

export interface Issuer {
  /** Identifies what signs: when it changes, what it signed is issued again. */
  key: string;
  /** The CA certificate and those above it (DER), for the files users export. */
  chain: Buffer[];
  /** When the CA certificate expires, if known: what it signs cannot outlive it. */
  notAfter?: number;
  /** Issues each request, calling `each` with its index as each is issued or fails, in no set order. */
  issueAll(profile: IssueProfile, requests: IssueRequest[], each: (index: number, result: Issued | Error) => void): Promise<void>;
}

/** How many certificates issue at once when each waits on a server or the thread pool. */
const ISSUE_CONCURRENCY = 16;

/** issueAll for issuers that issue one request at a time. */
export function oneByOne(issue: (p: IssueProfile, r: IssueRequest) => Promise<Issued>): Issuer['issueAll'] {
  return async (profile, requests, each) => {
    const run = limiter(ISSUE_CONCURRENCY);
    await Promise.all(requests.map((r, i) => run(() => issue(profile, r).then((x) => each(i, x), (e: unknown) => each(i, e instanceof Error ? e : new Error(String(e)))))));
  };
}

/** The CA certificate and those above it, as status publishes them (DER). */
export function chainOf(status: Record<string, unknown>): Buffer[] {
  return [status.certificate, status.chain].filter((p): p is string => typeof p === 'string').flatMap((p) => readCertificates(Buffer.from(p)).map((c) => c.der));
}
