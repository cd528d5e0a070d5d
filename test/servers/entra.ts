// Microsoft Entra ID and Microsoft Graph, emulated for tests and benchmarks (the real ones are out of
// reach from here): an HTTPS server on 127.0.0.1 with its own CA serving the token endpoint
// (client credentials with a secret or a certificate), the OpenID configuration and Graph v1.0's
// /users/delta and /groups/delta, with throttling, outages, token expiry and delta-token expiry on demand.
// It runs in a process of its own (CLI tests block their event loop with execFileSync): its sources,
// entra-main.ts and the modules it imports (Node built-ins only), are transpiled into its temp dir at
// start. A client trusts it with NODE_EXTRA_CA_CERTS=caFile (msal-node uses the global fetch) and
// configures msal offline: authority `${url}/${tenantId}`, knownAuthorities [host], authorityMetadata().
// Gone, with its temp dir, after stop().
import { X509Certificate, createPublicKey, randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { issueCertificate, KeyUsage, toPem } from '../../src/pki/certificate.js';
import { makeKey } from '../../src/pki/keys.js';
import { subjectName } from '../../src/pki/name.js';
import { directoryExtension, generatedUser, generatedUserId, type GeneratorContext } from './entra-users.js';
import type { EmulatorConfig, Faults, RequestRecord } from './entra-main.js';
import { openidConfiguration } from './entra-sts.js';
import { freePort } from './ports.js';
import { spawnServer } from './process.js';
import { makeServerCertificate } from './tls.js';

export type { Faults, RequestRecord };

export interface EntraOptions {
  /** Users generated at start (see generatedUser in entra-users.ts for what they hold and lack). Default 0. */
  users?: number;
  /** Groups generated at start: group k holds the users at positions k modulo groups. Default 0. */
  groups?: number;
  /** Objects per delta page when the client sends no Prefer: odata.maxpagesize. Default 100 (at most 200, as Graph caps them). */
  pageSize?: number;
  /** Group member entries per page: a larger group spans pages. Default 100. */
  memberPageSize?: number;
  /** Seconds an access token is valid (its expires_in). Default: 60 to 90 minutes at random, as Entra ID gives. */
  tokenLifetime?: number;
  /** Directory extension properties registered, as extension_{extensionAppId}_{name}. Default ['badgeId', 'costCenter']. */
  extensionNames?: string[];
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  json: any;
}

export interface EntraEmulator {
  /** https://127.0.0.1:PORT: the authority host and the Graph endpoint both. */
  url: string;
  tenantId: string;
  /** The tenant's verified domain; UPNs and mail of generated users are in it. */
  domain: string;
  clientId: string;
  /** The app's client secret. */
  secret: string;
  /** The app's certificate credential (self-signed RSA-2048, registered with the app). */
  certificate: { certificatePem: string; privateKeyPem: string; thumbprintSha1: string; thumbprintSha256: string };
  /** The CA of the emulator's TLS certificate, as a file (NODE_EXTRA_CA_CERTS) and as PEM. */
  caFile: string;
  caPem: string;
  tokenEndpoint: string;
  /** The app owning the directory extension properties. */
  extensionAppId: string;
  /** extension_{extensionAppId without dashes}_{name} */
  extensionProperty(name: string): string;
  /** msal-node's authorityMetadata option: the OpenID configuration as a JSON string. */
  authorityMetadata(): string;
  /** The spec lines of an EntraIdSource that reads this emulator (its secret ref left to the caller). */
  sourceSpec(): string;
  /** The generated user at a position, as the emulator holds it until changed. */
  generatedUser(position: number): Record<string, unknown>;
  generatedUserId(position: number): string;

  addUsers(users: Record<string, unknown>[]): Promise<string[]>;
  /** Appends generated users; returns the position of the first. */
  generateUsers(count: number): Promise<{ first: number; count: number }>;
  getUser(id: string): Promise<Record<string, unknown>>;
  /** Sets properties; null clears one; onPremisesExtensionAttributes merges. */
  updateUser(id: string, patch: Record<string, unknown>): Promise<void>;
  /** Soft delete (@removed reason changed), or hard (reason deleted); the user leaves its groups. */
  deleteUser(id: string, options?: { hard?: boolean }): Promise<void>;
  restoreUser(id: string): Promise<void>;
  /** Groups: { id?, displayName, description?, ..., members?: ids of users or groups }. */
  addGroups(groups: Record<string, unknown>[]): Promise<string[]>;
  generateGroups(count: number): Promise<string[]>;
  updateGroup(id: string, patch: Record<string, unknown>): Promise<void>;
  deleteGroup(id: string, options?: { hard?: boolean }): Promise<void>;
  addMembers(groupId: string, memberIds: string[]): Promise<void>;
  removeMember(groupId: string, memberId: string): Promise<void>;
  /**
   * Replaces the app's credentials (e.g. an expired secret: AADSTS7000222), or the application
   * permissions consented to (default User.Read.All and GroupMember.Read.All; [] withholds consent).
   */
  setCredentials(c: { secrets?: { value: string; expired?: boolean }[]; certificates?: string[]; permissions?: string[] }): Promise<void>;
  setFaults(f: Faults): Promise<void>;
  clearFaults(): Promise<void>;
  /** What the emulator served (token, Graph and metadata requests; not the control API), oldest first. */
  requests(since?: number): Promise<RequestRecord[]>;
  clearRequests(): Promise<void>;
  stats(): Promise<{ version: number; users: number; deletedUsers: number; groups: number }>;
  /** An HTTPS request trusting the emulator's CA: for tests that speak to Graph or the token endpoint directly. */
  request(method: string, url: string, options?: { headers?: Record<string, string>; body?: string }): Promise<HttpAnswer>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;
const SOURCES = ['entra-main', 'entra-directory', 'entra-sts', 'entra-users'];

/** The emulator's TypeScript sources: beside this file, or in test/servers when this file runs from dist. */
function sourceDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.replace(`${sep}dist${sep}test${sep}servers`, `${sep}test${sep}servers`);
}

/** Transpiles the emulator into dir (type-checking is the build's job; these import Node built-ins only). */
function transpile(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const name of SOURCES) {
    const out = ts.transpileModule(readFileSync(join(sourceDir(), `${name}.ts`), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: `${name}.ts`,
    });
    writeFileSync(join(dir, `${name}.js`), out.outputText);
  }
  return join(dir, 'entra-main.js');
}

/** An Entra client secret looks like this: 40 characters with a ~ after a 3-character hint. */
const clientSecret = () => `${randomBytes(3).toString('base64url').slice(0, 3)}8Q~${randomBytes(30).toString('base64url').slice(0, 34)}`;

/** A self-signed RSA certificate as apps register for client credentials (also: one the emulator does not know). */
export async function makeAppCertificate(): Promise<EntraEmulator['certificate']> {
  const key = await makeKey('RSA-2048');
  const name = subjectName({ commonName: 'mdmops graph client' });
  const der = await issueCertificate({
    subject: name,
    publicKey: createPublicKey(key),
    issuer: { name, key, publicKey: createPublicKey(key) },
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 365 * 86_400_000),
    keyUsage: [KeyUsage.digitalSignature],
  });
  const x509 = new X509Certificate(der);
  return {
    certificatePem: toPem(der),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    thumbprintSha1: x509.fingerprint.replace(/:/g, ''),
    thumbprintSha256: x509.fingerprint256.replace(/:/g, ''),
  };
}

export async function startEntra(options: EntraOptions = {}): Promise<EntraEmulator> {
  const dir = mkdtempSync(join(tmpdir(), 'mdmops-entra-'));
  let proc: ReturnType<typeof spawnServer> | undefined;
  // No keep-alive: a socket the server closes while idle would fail the next control call.
  const agent = new Agent({ keepAlive: false });
  const stop = async () => {
    agent.destroy();
    if (proc) {
      proc.release();
      if (proc.running()) {
        proc.child.kill('SIGTERM');
        await proc.exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [tls, certificate, port] = await Promise.all([makeServerCertificate(dir, 'mdmops test Entra CA'), makeAppCertificate(), freePort()]);
    const url = `https://127.0.0.1:${port}`;
    const ctx: GeneratorContext = { domain: 'mdmops-test.onmicrosoft.com', extensionAppId: randomUUID(), idPrefix: randomBytes(10).toString('hex') };
    const config: EmulatorConfig = {
      ...ctx,
      port,
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      app: { tenantId: randomUUID(), domain: ctx.domain, clientId: randomUUID(), secrets: [{ value: clientSecret() }], certificates: [certificate.certificatePem], permissions: ['User.Read.All', 'GroupMember.Read.All'] },
      extensionNames: options.extensionNames ?? ['badgeId', 'costCenter'],
      users: options.users ?? 0,
      groups: options.groups ?? 0,
      pageSize: options.pageSize ?? 100,
      memberPageSize: options.memberPageSize ?? 100,
      tokenLifetime: options.tokenLifetime ?? null,
    };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    proc = spawnServer(process.execPath, [transpile(join(dir, 'emulator')), join(dir, 'config.json')], dir, 'SIGKILL');

    const request = (method: string, target: string, o: { headers?: Record<string, string>; body?: string } = {}) =>
      new Promise<HttpAnswer>((resolve, reject) => {
        const req = httpsRequest(target, { method, ca: tls.caPem, agent, headers: { ...(o.body !== undefined ? { 'content-length': String(Buffer.byteLength(o.body)) } : {}), ...o.headers }, timeout: 60_000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          });
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${target}`)));
        req.on('error', reject);
        req.end(o.body);
      });
    const call = async (method: string, path: string, body?: unknown): Promise<any> => {
      const a = await request(method, `${url}/_emulator/${path}`, body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (a.status !== 200) throw new Error(`Entra emulator: ${method} /_emulator/${path} answered ${a.status}: ${a.text}`);
      return a.json;
    };

    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        if ((await request('GET', `${url}/_emulator/health`)).status === 200) break;
      } catch (e) {
        if (!proc.running() || Date.now() > deadline) throw new Error(`Entra emulator did not start (${(e as Error).message})\n${proc.log()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }

    const hardQuery = (o?: { hard?: boolean }) => (o?.hard ? '?hard=1' : '');
    const id = encodeURIComponent;
    return {
      url,
      tenantId: config.app.tenantId,
      domain: ctx.domain,
      clientId: config.app.clientId,
      secret: config.app.secrets[0]!.value,
      certificate,
      caFile: tls.caFile,
      caPem: tls.caPem,
      tokenEndpoint: `${url}/${config.app.tenantId}/oauth2/v2.0/token`,
      extensionAppId: ctx.extensionAppId,
      extensionProperty: (name) => directoryExtension(ctx.extensionAppId, name),
      authorityMetadata: () => JSON.stringify(openidConfiguration(url, config.app.tenantId)),
      sourceSpec: () => `displayName: Contoso\ntenantId: ${config.app.tenantId}\nclientId: ${config.app.clientId}\nauthorityHost: ${url}\ngraphEndpoint: ${url}`,
      generatedUser: (position) => generatedUser(ctx, position),
      generatedUserId: (position) => generatedUserId(ctx.idPrefix, position),
      addUsers: async (users) => (await call('POST', 'users', { users })).ids,
      generateUsers: (count) => call('POST', 'users', { generate: count }),
      getUser: (uid) => call('GET', `users/${id(uid)}`),
      updateUser: (uid, patch) => call('PATCH', `users/${id(uid)}`, patch),
      deleteUser: (uid, o) => call('DELETE', `users/${id(uid)}${hardQuery(o)}`),
      restoreUser: (uid) => call('POST', `users/${id(uid)}/restore`, {}),
      addGroups: async (groups) => (await call('POST', 'groups', { groups })).ids,
      generateGroups: async (count) => (await call('POST', 'groups', { generate: count })).ids,
      updateGroup: (gid, patch) => call('PATCH', `groups/${id(gid)}`, patch),
      deleteGroup: (gid, o) => call('DELETE', `groups/${id(gid)}${hardQuery(o)}`),
      addMembers: (gid, ids) => call('POST', `groups/${id(gid)}/members`, { ids }),
      removeMember: (gid, mid) => call('DELETE', `groups/${id(gid)}/members/${id(mid)}`),
      setCredentials: (c) => call('PUT', 'app', c),
      setFaults: (f) => call('POST', 'faults', f),
      clearFaults: () => call('DELETE', 'faults'),
      requests: async (since = 0) => (await call('GET', `requests?since=${since}`)).requests,
      clearRequests: () => call('DELETE', 'requests'),
      stats: () => call('GET', 'stats'),
      request,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
