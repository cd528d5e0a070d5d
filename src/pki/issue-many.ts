// Issuing many EC certificates alike (identity certificates for a whole directory), on this thread
// in short slices between which the event loop runs. Handing each signature to the thread pool
// costs this thread about as much as signing it here; worker threads (some 35 ms each to start)
// measured slower on two cores, even kept warm between batches (bench/issue.ts). Keys come back as
// PKCS#8 for the caller to seal.
import { randomBytes } from 'node:crypto';
import { certificateTemplate, serialNumber, type San, type TemplateInput } from './certificate.js';
import { ecKeyDer } from './keys.js';
import { messageOf } from '../util/message-of.js';

export interface ManyItem {
  /** Encoded subject Name; it may be encoded only when read, and fail then (that item fails). */
  subject: Buffer;
  subjectAltNames: San[];
}

export type ManyResult = { certificate: Buffer; pkcs8: Buffer; serial: Buffer } | { error: string };

/** Certificates per slice: about 2 ms of work. */
const SLICE = 50;

/**
 * Issues a certificate for each item (`curve`: P256 or P384), calling `each` with its index as each
 * is done. An item that cannot be issued (a name that cannot be encoded) is an error result.
 */
export async function issueMany(input: TemplateInput, curve: string, items: ManyItem[], each: (index: number, result: ManyResult) => void): Promise<void> {
  const template = certificateTemplate(input);
  for (let at = 0; at < items.length; at += SLICE) {
    if (at) await new Promise(setImmediate);
    const random = randomBytes(16 * SLICE);
    for (let i = at; i < Math.min(at + SLICE, items.length); i++) {
      const item = items[i]!;
      let result: ManyResult;
      try {
        const { pkcs8, spki } = ecKeyDer(curve);
        const serial = serialNumber(random.subarray(16 * (i - at), 16 * (i - at + 1)));
        result = { certificate: template.issueSync({ subject: item.subject, publicKey: spki, serial, subjectAltNames: item.subjectAltNames }), pkcs8, serial };
      } catch (e) {
        result = { error: messageOf(e) };
      }
      each(i, result);
    }
  }
}
