// PublicCloud CA: an ACME server (RFC 8555). Reconcile registers the account (its key sealed in the
// tenant store); identity certificates are ordered one by one, proven by http-01 challenges.
import type { Made, Observed, ProviderContext } from '../../engine/provider.js';
import { AcmeError, acmeAccount, acmeIssue } from '../../pki/acme.js';
import { certificationRequest, toPem } from '../../pki/certificate.js';
import { makeKey, pkcs8, privateKey } from '../../pki/keys.js';
import { readCertificates } from '../../pki/x509.js';
import type { OutboundPolicy } from '../../net/outbound.js';
import { probeUrl } from '../../net/probe.js';
import { withRetry } from '../../net/retry.js';
import { TerminalError } from '../../util/errors.js';
import { messageOf } from '../../util/message-of.js';
import { unreachable } from '../record.js';
import { oneByOne } from './issuer.js';
import { secretOf, unreachableError } from './servers.js';
import type { CaDesired, CaRecord, CaSpec, CaStrategy } from './strategy.js';

/** Port on which mdmops answers ACME http-01 challenges while it orders certificates. */
const http01Port = () => Number(process.env.MDMOPS_ACME_HTTP01_PORT ?? 80);

function acmeAccountInput(spec: CaSpec, outbound: OutboundPolicy, accountKey: Buffer, hmacKey?: string) {
  const eab = spec.externalAccountBinding;
  return {
    outbound,
    directoryUrl: String(spec.directoryUrl),
    email: String(spec.email),
    termsOfServiceAgreed: spec.termsOfServiceAgreed === true,
    accountKeyPem: privateKey(accountKey).export({ type: 'pkcs8', format: 'pem' }) as string,
    ...(eab && hmacKey ? { externalAccountBinding: { keyId: eab.keyId, hmacKey } } : {}),
  };
}

async function acmeReconcile(ctx: ProviderContext, d: CaDesired, record: CaRecord | undefined): Promise<Made> {
  const sealed = record ? await ctx.blob(d.id, 'account-key') : undefined;
  const accountKey = sealed ?? pkcs8(await makeKey(String(d.spec.keyAlgorithm)));
  const hmacKey = secretOf(d, 'spec.externalAccountBinding.hmacKeySecretRef');
  if (d.spec.externalAccountBinding && !hmacKey) {
    return { blobs: sealed ? [] : [{ purpose: 'account-key', value: accountKey }] }; // SecretNotFound says the rest
  }
  const blobs = sealed ? [] : [{ purpose: 'account-key', value: accountKey }];
  try {
    const { accountUrl } = await withRetry(() => acmeAccount(acmeAccountInput(d.spec, ctx.outbound, accountKey, hmacKey)), unreachableError);
    return { blobs, status: { accountUrl, accountError: undefined } };
  } catch (e) {
    // Not Ready, saying why; registered at a later apply.
    if (unreachableError(e)) return { blobs, status: { accountError: messageOf(e) } };
    // The CA said no to this account (a binding it requires, a key it refuses): not again until the spec changes.
    if (e instanceof AcmeError && e.kind === 'rejected') throw new TerminalError('AccountRejected', e.message);
    throw e;
  }
}

async function acmeObserve(ctx: ProviderContext, d: CaDesired, status: Record<string, unknown>): Promise<Observed> {
  const url = String(d.spec.directoryUrl);
  const probe = await probeUrl(url, ctx.outbound);
  if (!probe.ok) return unreachable('CAServerUnreachable', `ACME directory ${url} cannot be reached (${probe.message})`);
  if (!status.accountUrl) {
    const message = status.accountError ? `the ACME account could not be registered (${String(status.accountError)}); it is tried again at the next apply` : 'the ACME account is registered at apply';
    return { ready: { status: false, reason: 'AccountPending', message } };
  }
  return { ready: { status: true, reason: 'AccountReady', message: `ACME account ${status.accountUrl}` } };
}

export const publicCloud: CaStrategy = {
  create: (ctx, d) => acmeReconcile(ctx, d, undefined),
  update: acmeReconcile,
  observe: (ctx, d, status) => acmeObserve(ctx, d, status),
  async pending(_ctx, _d, record) {
    return record && !record.status.accountUrl ? ['register the ACME account'] : [];
  },
  async issuer(ctx, record) {
    const { spec } = record;
    const accountKey = await ctx.blob({ tenant: record.tenant, kind: record.kind, name: record.name }, 'account-key');
    if (!accountKey) return { waiting: `CertificateAuthority/${record.name} has no ACME account yet` };
    const account = acmeAccountInput(spec, ctx.outbound, accountKey);
    return {
      key: `acme:${spec.directoryUrl}`,
      chain: [],
      issueAll: oneByOne(async (p, r) => {
        const dnsNames = r.subjectAltNames.filter((s) => s.type === 'DNS').map((s) => s.value);
        if (!dnsNames.length) throw new Error('an ACME CA certifies DNS names only: add a subject alternative name of type DNS');
        const key = await makeKey(p.keyAlgorithm);
        const csrDer = await certificationRequest({ subject: r.subject, key, subjectAltNames: r.subjectAltNames.filter((s) => s.type === 'DNS') });
        const { chainPem } = await acmeIssue({ ...account, csrDer, dnsNames, http01: { port: http01Port() } });
        const [leaf, ...above] = readCertificates(Buffer.from(chainPem));
        return { certificate: leaf!.der, chain: above.map((c) => toPem(c.der)).join(''), pkcs8: pkcs8(key) };
      }),
    };
  },
};
