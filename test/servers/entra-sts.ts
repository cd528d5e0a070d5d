// The Entra emulator's token service: the Microsoft identity platform's client credentials grant
// (POST /{tenant}/oauth2/v2.0/token, entra-docs v2-oauth2-client-creds-grant-flow) with a client secret
// or a certificate assertion (certificate-credentials: a JWT signed RS256 with x5t, or PS256 with
// x5t#S256, aud = the token endpoint, iss = sub = client id), its AADSTS errors
// (reference-error-codes), and the app-only access tokens Graph then checks.
// Node built-ins only: this module runs in the emulator's own process.
import { X509Certificate, constants, createHash, createPublicKey, randomUUID, sign, verify, type KeyObject } from 'node:crypto';

export interface AppRegistration {
  tenantId: string;
  /** The tenant's verified domain: the authority path may name it instead of the id. */
  domain: string;
  clientId: string;
  secrets: { value: string; expired?: boolean }[];
  /** PEM certificates registered as the app's credentials. */
  certificates: string[];
  /** Application permissions an administrator consented to: the token's roles claim. */
  permissions: string[];
}

/** Graph's app id: with https://graph.microsoft.com (or this emulator's base URL), what a .default scope may name. */
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH_RESOURCES = ['https://graph.microsoft.com', GRAPH_APP_ID];
const GRAPH_AUDIENCE = 'https://graph.microsoft.com';
const CLOCK_SKEW_S = 300;
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
  credential?: 'secret' | 'certificate';
  /** The AADSTS code of a refusal. */
  error?: string;
}

export interface Signer {
  key: KeyObject;
  kid: string;
}

export function openidConfiguration(base: string, tenantId: string): Record<string, unknown> {
  const t = `${base}/${tenantId}`;
  return {
    token_endpoint: `${t}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    jwks_uri: `${t}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    issuer: `${t}/v2.0`,
    request_uri_parameter_supported: false,
    userinfo_endpoint: `${base}/oidc/userinfo`,
    authorization_endpoint: `${t}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${t}/oauth2/v2.0/devicecode`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    end_session_endpoint: `${t}/oauth2/v2.0/logout`,
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
    tenant_region_scope: 'EU',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
  };
}

export function jwks(signer: Signer): Record<string, unknown> {
  const jwk = createPublicKey(signer.key).export({ format: 'jwk' });
  return { keys: [{ kty: 'RSA', use: 'sig', kid: signer.kid, x5t: signer.kid, n: jwk.n, e: jwk.e }] };
}

/** An error answer as the identity platform words them: AADSTS code, trace and correlation ids, timestamp. */
export function aadError(status: number, error: string, code: number, text: string, correlationId: string): TokenAnswer {
  const timestamp = new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const traceId = randomUUID();
  return {
    status,
    error: `AADSTS${code}`,
    body: {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${code}`,
    },
  };
}

export interface TokenRequest {
  /** The tenant segment of the path. */
  tenant: string;
  form: URLSearchParams;
  correlationId: string;
  /** https://127.0.0.1:PORT */
  base: string;
  now: number;
  lifetime: number;
  /** Serial number of the token to issue (see checkAccessToken). */
  serial: number;
}

export function tokenRequest(app: AppRegistration, signer: Signer, r: TokenRequest): TokenAnswer {
  const fail = (status: number, error: string, code: number, text: string) => aadError(status, error, code, text, r.correlationId);
  if (r.tenant !== app.tenantId && r.tenant.toLowerCase() !== app.domain.toLowerCase()) {
    return fail(400, 'invalid_request', 90002, `Tenant '${r.tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
  }
  const param = (name: string) => r.form.get(name) ?? undefined;
  for (const name of ['grant_type', 'client_id', 'scope']) {
    if (!param(name)) return fail(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`);
  }
  if (param('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${param('grant_type')}'.`);
  const clientId = param('client_id')!;
  if (clientId !== app.clientId) {
    return fail(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${app.domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
  }

  const scopes = param('scope')!.split(' ').filter((s) => s && !OIDC_SCOPES.has(s));
  const resources = new Set<string>();
  for (const s of scopes) {
    if (!s.endsWith('/.default')) {
      return fail(400, 'invalid_scope', 1002012, `The provided value for scope ${s} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    resources.add(s.slice(0, -'/.default'.length).replace(/\/$/, ''));
  }
  if (resources.size !== 1) return fail(400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' is not valid. The scope ${param('scope')} is not valid.`);
  const [resource] = resources as unknown as [string];
  if (!GRAPH_RESOURCES.includes(resource) && resource !== r.base) {
    return fail(400, 'invalid_resource', 500011, `The resource principal named ${resource} was not found in the tenant named ${app.domain}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`);
  }

  let credential: 'secret' | 'certificate';
  const secret = param('client_secret');
  const assertion = param('client_assertion');
  if (secret !== undefined) {
    credential = 'secret';
    const match = app.secrets.find((s) => s.value === secret);
    if (!match) return fail(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`);
    if (match.expired) return fail(401, 'invalid_client', 7000222, `The provided client secret keys for app '${clientId}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.`);
  } else if (assertion !== undefined) {
    credential = 'certificate';
    if (param('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      return fail(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_assertion_type'.");
    }
    const refused = checkAssertion(app, assertion, r);
    if (refused) return fail(refused.status, refused.error, refused.code, refused.text);
  } else {
    // A confidential client's grant without any credential (reference-error-codes: AADSTS7000216).
    return fail(401, 'invalid_client', 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.");
  }

  const iat = Math.floor(r.now / 1000);
  const claims = {
    aud: GRAPH_AUDIENCE, iss: `https://sts.windows.net/${app.tenantId}/`, iat, nbf: iat, exp: iat + r.lifetime,
    appid: clientId, appidacr: credential === 'secret' ? '1' : '2', idtyp: 'app', oid: app.clientId, sub: app.clientId,
    // Without admin consent the token carries no roles claim at all (access-token-claims-reference, "roles").
    ...(app.permissions.length ? { roles: app.permissions } : {}), tid: app.tenantId, uti: randomUUID(), ver: '1.0',
    // Not in Entra's tokens: lets the emulator revoke every token issued before a point.
    emu_serial: r.serial,
  };
  return {
    status: 200,
    credential,
    body: { token_type: 'Bearer', expires_in: r.lifetime, ext_expires_in: r.lifetime, access_token: signJwt({ typ: 'JWT', alg: 'RS256', kid: signer.kid, x5t: signer.kid }, claims, signer.key) },
  };
}

interface Refusal {
  status: number;
  error: string;
  code: number;
  text: string;
}

const b64json = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString()) as Record<string, unknown>;

function checkAssertion(app: AppRegistration, jwt: string, r: TokenRequest): Refusal | undefined {
  const malformed = { status: 400, error: 'invalid_request', code: 50027, text: 'JWT token is invalid or malformed.' };
  const parts = jwt.split('.');
  if (parts.length !== 3) return malformed;
  let header: Record<string, unknown>;
  let claims: Record<string, unknown>;
  try {
    header = b64json(parts[0]!);
    claims = b64json(parts[1]!);
  } catch {
    return malformed;
  }
  const bad = (code: number, text: string): Refusal => ({ status: 401, error: 'invalid_client', code, text });
  const sha256 = typeof header['x5t#S256'] === 'string' ? (header['x5t#S256'] as string) : undefined;
  const sha1 = typeof header.x5t === 'string' ? (header.x5t as string) : undefined;
  const cert = app.certificates.map((pem) => new X509Certificate(pem)).find((c) =>
    (sha256 && digest('sha256', c.raw) === sha256) || (!sha256 && sha1 && digest('sha1', c.raw) === sha1));
  if (!cert) {
    const used = Buffer.from(sha256 ?? sha1 ?? '', 'base64url').toString('hex').toUpperCase();
    return bad(700027, `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${used}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'.]`);
  }
  if (Date.parse(cert.validTo) < r.now) return bad(700027, 'Client assertion contains an invalid signature. [Reason - The key used is expired.]');
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const signature = Buffer.from(parts[2]!, 'base64url');
  const ok = header.alg === 'RS256' ? verify('sha256', data, cert.publicKey, signature)
    : header.alg === 'PS256' ? verify('sha256', data, { key: cert.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature)
      : false;
  if (!ok) return bad(700027, 'Client assertion failed signature validation.');
  if (claims.iss !== app.clientId || claims.sub !== app.clientId) {
    return bad(700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .");
  }
  const audiences = [app.tenantId, app.domain].map((t) => `${r.base}/${t}/oauth2/v2.0/token`);
  if (typeof claims.aud !== 'string' || !audiences.includes(claims.aud.split('?')[0]!)) {
    return bad(700023, `Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`);
  }
  const now = r.now / 1000;
  const exp = typeof claims.exp === 'number' ? claims.exp : undefined;
  const nbf = typeof claims.nbf === 'number' ? claims.nbf : undefined;
  if (exp === undefined) return malformed;
  if (now >= exp || (nbf !== undefined && nbf > now + CLOCK_SKEW_S)) {
    const iso = (s: number | undefined) => (s === undefined ? 'none' : new Date(s * 1000).toISOString());
    return bad(700024, `Client assertion is not within its valid time range. Current time: ${iso(now)}, assertion valid from ${iso(nbf)}, expiry time of assertion ${iso(exp)}. Review the documentation at https://docs.microsoft.com/en-us/azure/active-directory/develop/active-directory-certificate-credentials .`);
  }
  return undefined;
}

const digest = (alg: string, der: Buffer) => createHash(alg).update(der).digest('base64url');

export function signJwt(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject): string {
  const body = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${body}.${sign('sha256', Buffer.from(body), key).toString('base64url')}`;
}

export type AuthResult = { ok: true; appId: string; roles: string[] } | { ok: false; auth: 'missing' | 'invalid' | 'expired' | 'revoked'; message: string };

/**
 * Graph's check of a bearer token: signed by this emulator, for Graph, this tenant, not expired, and not
 * issued before the last revocation.
 */
export function checkAccessToken(authorization: string | undefined, signer: Signer, tenantId: string, now: number, revokedBelow: number): AuthResult {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return { ok: false, auth: 'missing', message: 'Access token is empty.' };
  const parts = token.split('.');
  const invalid = { ok: false as const, auth: 'invalid' as const, message: 'Access token validation failure. Invalid audience.' };
  if (parts.length !== 3) return { ...invalid, message: 'IDX14100: JWT is not well formed, there are no dots (.).' };
  if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), signer.key, Buffer.from(parts[2]!, 'base64url'))) {
    return { ...invalid, message: 'Access token validation failure.' };
  }
  const claims = b64json(parts[1]!);
  if (claims.aud !== GRAPH_AUDIENCE && claims.aud !== GRAPH_APP_ID) return invalid;
  if (claims.tid !== tenantId) return { ...invalid, message: 'Access token validation failure. Invalid issuer.' };
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now) return { ok: false, auth: 'expired', message: 'Access token has expired or is not yet valid.' };
  if (typeof claims.emu_serial !== 'number' || claims.emu_serial < revokedBelow) return { ok: false, auth: 'revoked', message: 'Access token has expired or is not yet valid.' };
  return { ok: true, appId: String(claims.appid), roles: Array.isArray(claims.roles) ? (claims.roles as string[]) : [] };
}
