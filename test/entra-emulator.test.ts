// The Entra ID / Graph emulator itself: msal-node gets tokens from it offline (in a child process,
// which trusts its CA through NODE_EXTRA_CA_CERTS as the CLI will), and its delta queries, errors and
// faults behave as Microsoft documents them.
import { execFile } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, verify } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { makeAppCertificate, startEntra, type EntraEmulator, type HttpAnswer } from './servers/entra.js';

const USERS = 250;
let e: EntraEmulator;
let token: () => Promise<string>;
let get: ReturnType<typeof client>['get'];
let round: ReturnType<typeof client>['round'];

beforeAll(async () => {
  e = await startEntra({ users: USERS });
  ({ token, get, round } = client(e));
});
afterAll(async () => {
  await e?.stop();
});

// ---- helpers ----

interface MsalCase {
  authority?: string;
  metadata?: string;
  clientId?: string;
  credential: Record<string, unknown>;
  scopes?: string[];
}
interface MsalResult {
  accessToken?: string;
  expiresIn?: number;
  cachedSame?: boolean;
  errorCode?: string;
  errorMessage?: string;
}

// Runs in a child process started with NODE_EXTRA_CA_CERTS: msal-node uses the global fetch, whose CA
// list is read once at startup. Each case asks twice; the second answer should come from msal's cache.
const MSAL_SCRIPT = `
import { ConfidentialClientApplication } from '@azure/msal-node';
const out = [];
for (const c of JSON.parse(process.env.MSAL_CASES)) {
  const app = new ConfidentialClientApplication({ auth: { clientId: c.clientId, authority: c.authority, knownAuthorities: [new URL(c.authority).host], authorityMetadata: c.metadata, ...c.credential } });
  try {
    const r = await app.acquireTokenByClientCredential({ scopes: c.scopes });
    const again = await app.acquireTokenByClientCredential({ scopes: c.scopes });
    out.push({ accessToken: r.accessToken, expiresIn: Math.round((r.expiresOn.getTime() - Date.now()) / 1000), cachedSame: again.accessToken === r.accessToken });
  } catch (err) {
    out.push({ errorCode: err.errorCode, errorMessage: err.errorMessage ?? err.message });
  }
}
process.stdout.write(JSON.stringify(out));
`;

async function msal(cases: MsalCase[]): Promise<MsalResult[]> {
  const full = cases.map((c) => ({
    authority: `${e.url}/${e.tenantId}`,
    metadata: e.authorityMetadata(),
    clientId: e.clientId,
    scopes: ['https://graph.microsoft.com/.default'],
    ...c,
  }));
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', MSAL_SCRIPT], {
    cwd: process.cwd(),
    env: { ...process.env, NODE_EXTRA_CA_CERTS: e.caFile, MSAL_CASES: JSON.stringify(full) },
  });
  return JSON.parse(stdout) as MsalResult[];
}

const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

function form(fields: Record<string, string>, headers: Record<string, string> = {}) {
  return { headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() };
}

interface Round {
  pages: HttpAnswer[];
  values: Record<string, any>[];
  deltaLink: string;
}

/** A plain Graph client of one emulator: a token by secret, GETs, and a delta round followed link by link. */
function client(x: EntraEmulator) {
  const token = async (): Promise<string> => {
    const a = await x.request('POST', x.tokenEndpoint, form({ grant_type: 'client_credentials', client_id: x.clientId, client_secret: x.secret, scope: `${x.url}/.default` }));
    expect(a.status, a.text).toBe(200);
    return a.json.access_token as string;
  };
  const get = (url: string, bearer: string, headers: Record<string, string> = {}) => x.request('GET', url, { headers: { authorization: `Bearer ${bearer}`, ...headers } });
  const round = async (url: string, bearer: string, headers: Record<string, string> = {}): Promise<Round> => {
    const pages: HttpAnswer[] = [];
    for (let next: string = url; ;) {
      const page = await get(next, bearer, headers);
      expect(page.status, page.text).toBe(200);
      pages.push(page);
      const { '@odata.nextLink': nextLink, '@odata.deltaLink': deltaLink } = page.json;
      // A page carries one link, never both.
      expect(Boolean(nextLink) !== Boolean(deltaLink)).toBe(true);
      if (deltaLink) return { pages, values: pages.flatMap((p) => p.json.value), deltaLink };
      next = nextLink;
    }
  };
  return { token, get, round };
}

const SELECT = ['userPrincipalName', 'mail', 'displayName', 'givenName', 'surname', 'department', 'jobTitle', 'employeeId', 'accountEnabled', 'onPremisesExtensionAttributes', 'officeLocation'];
const usersDelta = () => `${e.url}/v1.0/users/delta?$select=${[...SELECT, e.extensionProperty('badgeId')].join(',')}`;
const byId = (values: Record<string, any>[]) => new Map(values.map((v) => [v.id as string, v]));

function aadstsCode(a: HttpAnswer): number {
  expect(a.json.error_description).toMatch(/^AADSTS\d+: /);
  expect(a.json.error_codes).toHaveLength(1);
  expect(a.json.error_description.startsWith(`AADSTS${a.json.error_codes[0]}:`)).toBe(true);
  expect(typeof a.json.trace_id).toBe('string');
  expect(typeof a.json.timestamp).toBe('string');
  return a.json.error_codes[0];
}

/** A client assertion as msal-node builds one for a certificate with a SHA-256 thumbprint (PS256, x5t#S256). */
function assertion(cert: { certificatePem: string; privateKeyPem: string }, claims: Record<string, unknown> = {}, signWith?: string): string {
  const der = Buffer.from(cert.certificatePem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'PS256', typ: 'JWT', 'x5t#S256': createHash('sha256').update(der).digest('base64url') };
  const payload = { aud: e.tokenEndpoint, iss: e.clientId, sub: e.clientId, jti: randomUUID(), nbf: now, exp: now + 600, ...claims };
  const body = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const key = createPrivateKey(signWith ?? cert.privateKeyPem);
  return `${body}.${sign('sha256', Buffer.from(body), { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }).toString('base64url')}`;
}

const assertionForm = (jwt: string) => form({ grant_type: 'client_credentials', client_id: e.clientId, scope: 'https://graph.microsoft.com/.default', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: jwt });

// ---- token endpoint ----

describe('token endpoint', () => {
  test('msal-node, configured offline, gets a Graph token with the secret and with the certificate (SHA-256 and SHA-1 thumbprints) in one request each', async () => {
    await e.clearRequests();
    const [bySecret, bySha256, bySha1] = await msal([
      { credential: { clientSecret: e.secret } },
      { credential: { clientCertificate: { thumbprintSha256: e.certificate.thumbprintSha256, privateKey: e.certificate.privateKeyPem, x5c: e.certificate.certificatePem } } },
      { credential: { clientCertificate: { thumbprint: e.certificate.thumbprintSha1, privateKey: e.certificate.privateKeyPem } } },
    ]);
    for (const r of [bySecret!, bySha256!, bySha1!]) {
      expect(r.errorMessage).toBeUndefined();
      expect(claimsOf(r.accessToken!)).toMatchObject({ aud: 'https://graph.microsoft.com', tid: e.tenantId, appid: e.clientId, idtyp: 'app' });
      expect(r.expiresIn).toBeGreaterThan(3500);
      expect(r.cachedSame).toBe(true);
    }
    const log = await e.requests();
    // No discovery, no metadata: one token request per app, the second ask served from msal's cache.
    expect(log.map((r) => [r.kind, r.status, r.credential])).toEqual([['token', 200, 'secret'], ['token', 200, 'certificate'], ['token', 200, 'certificate']]);
    expect(JSON.stringify(log)).not.toContain(e.secret);
  });

  test('msal-node reports the AADSTS errors: wrong secret, unknown app, unknown tenant, unregistered certificate', async () => {
    const other = await makeAppCertificate();
    const otherTenant = randomUUID();
    const [badSecret, unknownApp, unknownTenant, badCert] = await msal([
      { credential: { clientSecret: `${e.secret}x` } },
      { clientId: randomUUID(), credential: { clientSecret: e.secret } },
      { authority: `${e.url}/${otherTenant}`, metadata: e.authorityMetadata().replaceAll(e.tenantId, otherTenant), credential: { clientSecret: e.secret } },
      { credential: { clientCertificate: { thumbprintSha256: other.thumbprintSha256, privateKey: other.privateKeyPem } } },
    ]);
    expect(badSecret).toMatchObject({ errorCode: 'invalid_client', errorMessage: expect.stringContaining('AADSTS7000215: Invalid client secret provided') });
    expect(unknownApp).toMatchObject({ errorCode: 'unauthorized_client', errorMessage: expect.stringContaining(`AADSTS700016: Application with identifier`) });
    expect(unknownTenant).toMatchObject({ errorCode: 'invalid_request', errorMessage: expect.stringContaining(`AADSTS90002: Tenant '${otherTenant}' not found`) });
    expect(badCert).toMatchObject({ errorCode: 'invalid_client', errorMessage: expect.stringContaining(`AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${other.thumbprintSha256}'`) });
  });

  test('client assertions are checked: signature, issuer, audience, lifetime', async () => {
    const ok = await e.request('POST', e.tokenEndpoint, assertionForm(assertion(e.certificate)));
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json).toMatchObject({ token_type: 'Bearer', ext_expires_in: ok.json.expires_in });
    // 60 to 90 minutes, at random.
    expect(ok.json.expires_in).toBeGreaterThanOrEqual(3600);
    expect(ok.json.expires_in).toBeLessThanOrEqual(5400);

    const other = await makeAppCertificate();
    const cases: [string, number][] = [
      [assertion(e.certificate, {}, other.privateKeyPem), 700027],
      [assertion(e.certificate, { iss: randomUUID() }), 700021],
      [assertion(e.certificate, { aud: `${e.url}/${randomUUID()}/oauth2/v2.0/token` }), 700023],
      [assertion(e.certificate, { nbf: Math.floor(Date.now() / 1000) - 1200, exp: Math.floor(Date.now() / 1000) - 600 }), 700024],
    ];
    for (const [jwt, code] of cases) {
      const a = await e.request('POST', e.tokenEndpoint, assertionForm(jwt));
      expect(a.status).toBe(401);
      expect(a.json.error).toBe('invalid_client');
      expect(aadstsCode(a)).toBe(code);
    }
  });

  test('requests that are not a client credentials grant for Graph are refused as Entra refuses them', async () => {
    const base = { grant_type: 'client_credentials', client_id: e.clientId, client_secret: e.secret, scope: 'https://graph.microsoft.com/.default' };
    const cases: [Record<string, string>, number, string, number][] = [
      [{ ...base, scope: 'User.Read.All' }, 400, 'invalid_scope', 1002012],
      [{ ...base, scope: 'https://example.com/.default' }, 400, 'invalid_resource', 500011],
      [{ ...base, grant_type: 'password' }, 400, 'unsupported_grant_type', 70003],
      [{ grant_type: 'client_credentials', client_id: e.clientId, scope: base.scope }, 401, 'invalid_client', 7000216],
    ];
    for (const [fields, status, error, code] of cases) {
      const correlation = randomUUID();
      const a = await e.request('POST', e.tokenEndpoint, form(fields, { 'client-request-id': correlation }));
      expect([a.status, a.json.error, aadstsCode(a)]).toEqual([status, error, code]);
      expect(a.json.correlation_id).toBe(correlation);
    }
    // An expired secret: AADSTS7000222; the app's credentials restored afterwards.
    await e.setCredentials({ secrets: [{ value: e.secret, expired: true }] });
    try {
      const a = await e.request('POST', e.tokenEndpoint, form(base));
      expect([a.status, aadstsCode(a)]).toEqual([401, 7000222]);
    } finally {
      await e.setCredentials({ secrets: [{ value: e.secret }] });
    }
    expect((await e.request('POST', e.tokenEndpoint, form(base))).status).toBe(200);
  });

  test('the OpenID configuration matches authorityMetadata, and its keys verify the access tokens', async () => {
    const config = await e.request('GET', `${e.url}/${e.tenantId}/v2.0/.well-known/openid-configuration`);
    expect(config.json).toEqual(JSON.parse(e.authorityMetadata()));
    expect(config.json.token_endpoint).toBe(e.tokenEndpoint);
    const keys = await e.request('GET', config.json.jwks_uri);
    const jwt = await token();
    const [h, p, s] = jwt.split('.') as [string, string, string];
    const kid = JSON.parse(Buffer.from(h, 'base64url').toString()).kid;
    const jwk = keys.json.keys.find((k: { kid: string }) => k.kid === kid);
    expect(verify('sha256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'))).toBe(true);
  });
});

// ---- Graph ----

describe('Graph delta queries', () => {
  test('a first round pages with nextLink, ends with a deltaLink and returns the selected properties of every user', async () => {
    const bearer = await token();
    const r = await round(usersDelta(), bearer);
    expect(r.pages.map((p) => p.json.value.length)).toEqual([100, 100, 50]);
    // Links are opaque: the query is encoded in them, not repeated.
    expect(r.pages[0]!.json['@odata.nextLink']).toMatch(new RegExp(`^${e.url}/v1\\.0/users/delta\\?\\$skiptoken=[^&]+$`));
    expect(r.deltaLink).toMatch(/\/v1\.0\/users\/delta\?\$deltatoken=[^&]+$/);

    const users = byId(r.values);
    expect(users.size).toBe(USERS);
    const badge = e.extensionProperty('badgeId');
    for (let i = 0; i < USERS; i++) {
      const got = users.get(e.generatedUserId(i))!;
      const want = e.generatedUser(i);
      // Properties never set are left out, not sent as null.
      expect(Object.keys(got).sort()).toEqual([...SELECT.filter((n) => n in want), 'id', ...(badge in want ? [badge] : [])].sort());
      for (const name of ['userPrincipalName', 'mail', 'displayName', 'givenName', 'surname', 'department', 'jobTitle', 'employeeId', 'accountEnabled']) {
        expect(got[name]).toEqual(want[name]);
      }
      expect('officeLocation' in got).toBe(false);
      expect(Object.keys(got.onPremisesExtensionAttributes)).toHaveLength(15);
      expect(got.onPremisesExtensionAttributes.extensionAttribute1).toBe((want.onPremisesExtensionAttributes as Record<string, unknown>).extensionAttribute1);
    }
    // Some users lack some attributes; names are not all ASCII.
    expect('mail' in users.get(e.generatedUserId(9))!).toBe(false);
    expect(users.get(e.generatedUserId(8))![badge]).toBeUndefined();
    expect(users.get(e.generatedUserId(10))!.onPremisesExtensionAttributes.extensionAttribute1).toBeNull();
    expect(users.get(e.generatedUserId(0))!.displayName).toBe('Zoë Müller');
    expect(r.values.some((u) => /[^\x00-\x7f]/.test(u.surname) && !/[A-Za-z]/.test(u.surname))).toBe(true);
  });

  test('Prefer: odata.maxpagesize sets the page size', async () => {
    const r = await round(usersDelta(), await token(), { prefer: 'odata.maxpagesize=60' });
    expect(r.pages.map((p) => p.json.value.length)).toEqual([60, 60, 60, 60, 10]);
    expect(r.pages[0]!.headers['preference-applied']).toBe('odata.maxpagesize=60');
    // About 200 at most, whatever is asked.
    const large = await round(usersDelta(), await token(), { prefer: 'odata.maxpagesize=999' });
    expect(large.pages.map((p) => p.json.value.length)).toEqual([200, 50]);
  });

  test('unknown properties and filters other than on ids are refused; a filter on ids is honoured', async () => {
    const bearer = await token();
    const unknown = await get(`${e.url}/v1.0/users/delta?$select=displayName,nickname`, bearer);
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toMatchObject({ code: 'BadRequest', message: "Parsing OData Select and Expand failed: Could not find a property named 'nickname' on type 'microsoft.graph.user'." });
    const unregistered = await get(`${e.url}/v1.0/users/delta?$select=${e.extensionProperty('shoeSize')}`, bearer);
    expect(unregistered.status).toBe(400);
    const filter = await get(`${e.url}/v1.0/users/delta?$filter=startswith(displayName,'Z')`, bearer);
    expect([filter.status, filter.json.error.code]).toEqual([400, 'Request_UnsupportedQuery']);

    const ids = [e.generatedUserId(3), e.generatedUserId(200)];
    const r = await round(`${e.url}/v1.0/users/delta?$select=displayName&$filter=${encodeURIComponent(ids.map((id) => `id eq '${id}'`).join(' or '))}`, bearer);
    expect(r.values.map((v) => v.id)).toEqual(ids);
    // Without $select: Graph's default properties.
    const first = (await get(`${e.url}/v1.0/users/delta`, bearer)).json.value[0];
    expect(Object.keys(first).sort()).toEqual(['displayName', 'givenName', 'id', 'jobTitle', 'mail', 'surname', 'userPrincipalName']);
  });
});

describe('Graph delta rounds after changes', () => {
  let other: EntraEmulator;
  beforeAll(async () => {
    other = await startEntra({ users: 120, memberPageSize: 50 });
  });
  afterAll(async () => {
    await other?.stop();
  });

  const roundOf = async (x: EntraEmulator, url: string, headers: Record<string, string> = {}) => {
    const c = client(x);
    return c.round(url, await c.token(), headers);
  };

  test('a deltaLink returns changed users, soft and hard deletions and new users; return=minimal only the changed properties', async () => {
    const x = other;
    const url = `${x.url}/v1.0/users/delta?$select=displayName,department,jobTitle,mail,officeLocation,onPremisesExtensionAttributes,${x.extensionProperty('badgeId')}`;
    const first = await roundOf(x, url);
    expect(first.values).toHaveLength(120);

    const id = (i: number) => x.generatedUserId(i);
    await x.updateUser(id(0), { department: 'Legal', jobTitle: null });
    await x.deleteUser(id(1));
    await x.deleteUser(id(2), { hard: true });
    await x.updateUser(id(3), { onPremisesExtensionAttributes: { extensionAttribute5: 'Zürich' } });
    await x.updateUser(id(4), { [x.extensionProperty('badgeId')]: 'B-new' });
    const [added] = await x.addUsers([{ displayName: 'Ωmega Ünïcode', userPrincipalName: `omega@${x.domain}`, givenName: 'Ωmega', surname: 'Ünïcode' }]);

    const second = await roundOf(x, first.deltaLink);
    const changed = byId(second.values);
    expect([...changed.keys()].sort()).toEqual([id(0), id(1), id(2), id(3), id(4), added!].sort());
    // Default: all selected properties that were ever set, changed or not; a cleared one as null.
    expect(changed.get(id(0))).toEqual({
      id: id(0), displayName: x.generatedUser(0).displayName, department: 'Legal', jobTitle: null, mail: x.generatedUser(0).mail,
      onPremisesExtensionAttributes: expect.objectContaining({ extensionAttribute1: 'CC1000' }), [x.extensionProperty('badgeId')]: 'B0',
    });
    expect(changed.get(id(1))).toEqual({ id: id(1), '@removed': { reason: 'changed' } });
    expect(changed.get(id(2))).toEqual({ id: id(2), '@removed': { reason: 'deleted' } });
    expect(changed.get(id(3))!.onPremisesExtensionAttributes).toMatchObject({ extensionAttribute1: 'CC1003', extensionAttribute5: 'Zürich' });
    expect(changed.get(id(4))![x.extensionProperty('badgeId')]).toBe('B-new');
    expect(changed.get(added!)).toMatchObject({ displayName: 'Ωmega Ünïcode' });

    // Nothing changed since: an empty page with a new deltaLink.
    const quiet = await roundOf(x, second.deltaLink);
    expect(quiet.values).toEqual([]);

    await x.updateUser(id(5), { department: 'Ops' });
    await x.restoreUser(id(1));
    const minimal = await roundOf(x, quiet.deltaLink, { prefer: 'return=minimal' });
    expect(byId(minimal.values).get(id(5))).toEqual({ id: id(5), department: 'Ops' });
    // A restored user comes back whole.
    expect(byId(minimal.values).get(id(1))).toMatchObject({ displayName: x.generatedUser(1).displayName, mail: x.generatedUser(1).mail });
    expect(minimal.pages.at(-1)!.headers['preference-applied']).toBe('return=minimal');
  });

  test('groups carry members@delta; later rounds carry member additions and removals; a large group spans pages', async () => {
    const x = other;
    const id = (i: number) => x.generatedUserId(i);
    const [small, large, empty] = await x.addGroups([
      { displayName: 'Équipe A', members: [id(10), id(11), id(12)] },
      { displayName: 'Everyone', members: Array.from({ length: 110 }, (_, i) => id(i + 10)) },
      { displayName: 'Nobody' },
    ]);
    const url = `${x.url}/v1.0/groups/delta?$select=displayName,members`;
    const first = await roundOf(x, url);
    const entries = (gid: string, r: Round) => r.values.filter((v) => v.id === gid);
    const members = (gid: string, r: Round) => entries(gid, r).flatMap((v) => v['members@delta'] ?? []);

    expect(members(small!, first)).toEqual([id(10), id(11), id(12)].map((m) => ({ '@odata.type': '#microsoft.graph.user', id: m })));
    // 110 members, 50 per page: the group object three times, each with the next slice.
    expect(entries(large!, first)).toHaveLength(3);
    expect(entries(large!, first).every((v) => v.displayName === 'Everyone')).toBe(true);
    expect(new Set(members(large!, first).map((m) => m.id)).size).toBe(110);
    expect(entries(empty!, first)).toEqual([{ id: empty, displayName: 'Nobody' }]);

    await x.addMembers(small!, [id(13)]);
    await x.removeMember(small!, id(10));
    await x.deleteUser(id(11), { hard: true });
    await x.deleteGroup(empty!);
    const second = await roundOf(x, first.deltaLink);
    expect(members(small!, second)).toEqual([
      { '@odata.type': '#microsoft.graph.user', id: id(13) },
      { '@odata.type': '#microsoft.graph.user', id: id(10), '@removed': { reason: 'deleted' } },
      { '@odata.type': '#microsoft.graph.user', id: id(11), '@removed': { reason: 'deleted' } },
    ]);
    // The hard-deleted user also left the large group; the group carries only that change.
    expect(members(large!, second)).toEqual([{ '@odata.type': '#microsoft.graph.user', id: id(11), '@removed': { reason: 'deleted' } }]);
    expect(entries(empty!, second)).toEqual([{ id: empty, '@removed': { reason: 'changed' } }]);

    // A soft-deleted user leaves the members, and is one again once restored.
    await x.deleteUser(id(12));
    const third = await roundOf(x, second.deltaLink);
    expect(members(small!, third)).toEqual([{ '@odata.type': '#microsoft.graph.user', id: id(12), '@removed': { reason: 'deleted' } }]);
    await x.restoreUser(id(12));
    const fourth = await roundOf(x, third.deltaLink);
    expect(members(small!, fourth)).toEqual([{ '@odata.type': '#microsoft.graph.user', id: id(12) }]);
    expect(members(large!, fourth)).toEqual([{ '@odata.type': '#microsoft.graph.user', id: id(12) }]);
  });

  test('generated groups hold every active user at their position modulo the group count', async () => {
    const x = other;
    const ids = await x.generateGroups(3);
    const r = await roundOf(x, `${x.url}/v1.0/groups/delta?$select=displayName,members&$filter=${encodeURIComponent(ids.map((id) => `id eq '${id}'`).join(' or '))}`);
    const active = (await x.stats()).users;
    const members = ids.map((gid) => new Set(r.values.filter((v) => v.id === gid).flatMap((v) => v['members@delta'].map((m: { id: string }) => m.id))));
    expect(members.reduce((n, m) => n + m.size, 0)).toBe(active);
    expect(members[1]!.has(x.generatedUserId(4))).toBe(true);
    expect(members[0]!.has(x.generatedUserId(4))).toBe(false);
  });

  test('$deltatoken=latest returns only a deltaLink; changes made later come from it', async () => {
    const x = other;
    const latest = await roundOf(x, `${x.url}/v1.0/users/delta?$deltatoken=latest&$select=displayName`);
    expect(latest.pages).toHaveLength(1);
    expect(latest.values).toEqual([]);
    await x.updateUser(x.generatedUserId(50), { displayName: 'Renée Fünfzig' });
    const next = await roundOf(x, latest.deltaLink);
    expect(next.values).toEqual([{ id: x.generatedUserId(50), displayName: 'Renée Fünfzig' }]);
    // A change to a property not selected returns nothing.
    await x.updateUser(x.generatedUserId(51), { jobTitle: 'Not selected' });
    expect((await roundOf(x, next.deltaLink)).values).toEqual([]);
  });

  test('a first round may carry users in the recycle bin as @removed', async () => {
    const x = other;
    await x.deleteUser(x.generatedUserId(70));
    const r = await roundOf(x, `${x.url}/v1.0/users/delta?$select=displayName`);
    expect(r.values.filter((v) => v['@removed'])).toContainEqual({ id: x.generatedUserId(70), '@removed': { reason: 'changed' } });
    expect(r.values.filter((v) => v['@removed']).every((v) => v['@removed'].reason === 'changed')).toBe(true);
    await x.restoreUser(x.generatedUserId(70));
  });
});

describe('faults', () => {
  test('a synchronization reset answers 410 Gone with syncStateNotFound and a Location to start over from', async () => {
    const bearer = await token();
    const r = await round(usersDelta(), bearer);
    const nextLink = r.pages[0]!.json['@odata.nextLink'] as string;
    await e.setFaults({ expireDeltaTokens: true });
    for (const link of [r.deltaLink, nextLink]) {
      const gone = await get(link, bearer, { 'client-request-id': 'c0ffee00-0000-4000-8000-000000000001' });
      expect(gone.status).toBe(410);
      expect(gone.json.error).toMatchObject({ code: 'syncStateNotFound', innerError: { 'client-request-id': 'c0ffee00-0000-4000-8000-000000000001', 'request-id': expect.any(String), date: expect.any(String) } });
      expect(gone.headers.location).toBe(usersDelta());
    }
    const location = (await get(r.deltaLink, bearer)).headers.location as string;
    const again = await round(location, bearer);
    expect(again.values).toHaveLength(USERS);
  });

  test('a delta link over 7 days old answers 400 syncStateNotFound; one issued since works', async () => {
    const bearer = await token();
    const old = await round(usersDelta(), bearer);
    await e.setFaults({ advanceClock: 6 * 86_400 });
    expect((await get(old.deltaLink, bearer)).status).toBe(200);
    await e.setFaults({ advanceClock: 86_400 + 60 });
    const expired = await get(old.deltaLink, bearer);
    expect([expired.status, expired.json.error.code, expired.headers.location]).toEqual([400, 'syncStateNotFound', undefined]);
    const fresh = await round(usersDelta(), bearer);
    expect((await get(fresh.deltaLink, bearer)).status).toBe(200);
  });

  test('without admin consent the token has no roles and Graph answers 403 Authorization_RequestDenied', async () => {
    await e.setCredentials({ permissions: ['User.Read.All'] });
    try {
      const bearer = await token();
      expect(claimsOf(bearer).roles).toEqual(['User.Read.All']);
      expect((await get(usersDelta(), bearer)).status).toBe(200);
      const groups = await get(`${e.url}/v1.0/groups/delta?$select=displayName,members`, bearer);
      expect([groups.status, groups.json.error.code, groups.json.error.message]).toEqual([403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.']);
      await e.setCredentials({ permissions: [] });
      const none = await token();
      expect(claimsOf(none).roles).toBeUndefined();
      expect((await get(usersDelta(), none)).status).toBe(403);
    } finally {
      await e.setCredentials({ permissions: ['User.Read.All', 'GroupMember.Read.All'] });
    }
  });

  test('throttling: 429 with Retry-After and Graph\'s error body, then the same request succeeds; 503 and 504 likewise', async () => {
    const bearer = await token();
    await e.clearRequests();
    await e.setFaults({ throttle: { count: 1, retryAfter: 2 } });
    const throttled = await get(usersDelta(), bearer, { 'client-request-id': 'c0ffee00-0000-4000-8000-000000000002' });
    expect(throttled.status).toBe(429);
    expect(throttled.headers['retry-after']).toBe('2');
    expect(throttled.json.error).toMatchObject({ code: 'TooManyRequests', message: expect.any(String), innerError: { 'client-request-id': 'c0ffee00-0000-4000-8000-000000000002', date: expect.any(String), 'request-id': throttled.headers['request-id'] } });
    expect((await get(usersDelta(), bearer)).status).toBe(200);

    await e.setFaults({ throttle: { count: 2, status: 503, retryAfter: null, after: 1 } });
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const a = await get(usersDelta(), bearer);
      statuses.push([a.status, a.headers['retry-after'] ?? null, a.json.error?.code ?? null]);
    }
    expect(statuses).toEqual([[200, null, null], [503, null, 'serviceNotAvailable'], [503, null, 'serviceNotAvailable'], [200, null, null]]);
    await e.setFaults({ throttle: { count: 1, status: 504 } });
    expect((await get(usersDelta(), bearer)).status).toBe(504);

    const log = (await e.requests()).filter((r) => r.kind === 'graph');
    expect(log.map((r) => [r.status, r.fault ?? null, r.retryAfter ?? null])).toEqual([
      [429, 'throttle', 2], [200, null, null], [200, null, null], [503, 'throttle', null], [503, 'throttle', null], [200, null, null], [504, 'throttle', 1],
    ]);
    // Timestamps let a test check that a client waited as told, from the order of what was served.
    expect(log.every((r, i) => i === 0 || r.at >= log[i - 1]!.at)).toBe(true);
  });

  test('an outage resets connections after N pages; the links handed out before it still work afterwards', async () => {
    const bearer = await token();
    await e.clearRequests();
    await e.setFaults({ outage: { afterPages: 1, count: 2 } });
    const first = await get(usersDelta(), bearer);
    expect(first.status).toBe(200);
    const next = first.json['@odata.nextLink'] as string;
    for (let i = 0; i < 2; i++) {
      await expect(get(next, bearer)).rejects.toThrow(/ECONNRESET|socket hang up/);
    }
    // Resumed from the link it failed on: nothing lost.
    const rest = await round(next, bearer);
    expect(new Set([...first.json.value, ...rest.values].map((v) => v.id)).size).toBe(USERS);
    expect((await e.requests()).map((r) => [r.status, r.fault ?? null])).toEqual([[200, null], [0, 'outage'], [0, 'outage'], [200, null], [200, null]]);
  });

  test('an outage that refuses connections for a while: reset, then refused, then served again', async () => {
    const bearer = await token();
    await e.clearRequests();
    await e.setFaults({ outage: { refuseSeconds: 1 } });
    await expect(get(usersDelta(), bearer)).rejects.toThrow(/ECONNRESET/);
    await expect(get(usersDelta(), bearer)).rejects.toThrow(/ECONNREFUSED/);
    let back: HttpAnswer | undefined;
    for (let i = 0; i < 100 && !back; i++) {
      back = await get(usersDelta(), bearer).catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    expect(back?.status).toBe(200);
    expect((await e.requests()).filter((r) => r.fault === 'outage')).toHaveLength(1);
  });

  test('an outage of the token endpoint: msal-node cannot get a token', async () => {
    await e.setFaults({ outage: { target: 'token' } });
    try {
      const [r] = await msal([{ credential: { clientSecret: e.secret } }]);
      expect(r!.accessToken).toBeUndefined();
      expect(r!.errorMessage).toBeTruthy();
    } finally {
      await e.setFaults({ outage: null });
    }
    const [r] = await msal([{ credential: { clientSecret: e.secret } }]);
    expect(r!.accessToken).toBeTruthy();
  });

  test('expired and revoked access tokens answer 401 InvalidAuthenticationToken; a new token works', async () => {
    await e.setFaults({ tokenLifetime: 1 });
    const shortLived = await e.request('POST', e.tokenEndpoint, form({ grant_type: 'client_credentials', client_id: e.clientId, client_secret: e.secret, scope: 'https://graph.microsoft.com/.default' }));
    await e.setFaults({ tokenLifetime: null });
    expect(shortLived.json.expires_in).toBe(1);
    const exp = claimsOf(shortLived.json.access_token).exp as number;
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
    const expired = await get(usersDelta(), shortLived.json.access_token);
    expect(expired.status).toBe(401);
    expect(expired.json.error).toMatchObject({ code: 'InvalidAuthenticationToken', message: 'Access token has expired or is not yet valid.' });
    expect(expired.headers['www-authenticate']).toMatch(/^Bearer /);

    const fresh = await token();
    expect((await get(usersDelta(), fresh)).status).toBe(200);
    await e.setFaults({ revokeTokens: true });
    expect((await get(usersDelta(), fresh)).status).toBe(401);
    expect((await get(usersDelta(), await token())).status).toBe(200);

    const none = await e.request('GET', usersDelta());
    expect([none.status, none.json.error.message]).toEqual([401, 'Access token is empty.']);
    const forged = fresh.split('.').slice(0, 2).join('.') + '.' + Buffer.from('forged').toString('base64url');
    expect((await get(usersDelta(), forged)).status).toBe(401);
    expect((await e.requests()).filter((r) => r.status === 401).map((r) => r.auth).slice(-4)).toEqual(['expired', 'revoked', 'missing', 'invalid']);
  });
});
