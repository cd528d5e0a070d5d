// What a tenant's spec can make mdmops fetch, tried as a tenant would (SSRF): in a mode tenants share
// (mdmops run with a configuration of two tenants), an IdentityProvider metadataUrl on this machine is
// refused before a byte is sent, with --allow-internal-targets a redirect to another host or scheme
// is not followed and an answer past the cap is not read, and what an internal server answered
// never reaches status, notifications or the log.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mdmopsAsync } from './support/cli.js';
import { idpMetadata, signingCertificate } from './support/saml.js';
import { doc, workspace, type Workspace } from './support/workspace.js';
import { makeServerCertificate } from './servers/tls.js';
import { issueCert, makeCa } from './servers/certs.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';

const CANARY = 'internal-canary-5e21b7';

/** A second tenant, so that mdmops run is in the mode tenants share. */
const OTHER_TENANT = doc('Space', 'other', 'displayName: Other\npriority: 1\nmembers: { groups: [o] }\nadmins: { groups: [o-admins] }').replace('metadata:\n', 'metadata:\n  namespace: tenant-b\n');

async function readyOf(ws: Workspace, resource: string): Promise<{ status: string; reason: string; message: string }> {
  const r = await mdmopsAsync(['status', resource, '-o', 'json'], { cwd: ws.dir });
  if (r.code !== 0) throw new Error(`mdmops status ${resource}: ${r.stderr}`);
  return JSON.parse(r.stdout).status.conditions.find((c: { type: string }) => c.type === 'Ready');
}

describe('tenant-supplied URLs in a mode tenants share', () => {
  const ws = workspace();
  let server: Server;
  let base: string;
  let caFile: string;
  const hits: string[] = [];
  const certs = mkdtempSync(join(tmpdir(), 'mdmops-outbound-'));
  const acmeWs = { '127.0.0.1': workspace(), localhost: workspace(), allowed: workspace() };

  beforeAll(async () => {
    const metadata = idpMetadata(`https://idp.example.com/${CANARY}`, [await signingCertificate('IdP', -1, 365)]);
    const tls = await makeServerCertificate(certs, 'Outbound test CA');
    caFile = tls.caFile;
    server = createServer({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }, (req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/metadata') return res.writeHead(200, { 'content-type': 'application/xml' }).end(metadata);
      if (req.url === '/elsewhere') return res.writeHead(302, { location: `https://127.0.0.2:${(server.address() as AddressInfo).port}/metadata` }).end();
      if (req.url === '/downgrade') return res.writeHead(302, { location: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metadata` }).end();
      if (req.url === '/same-host') return res.writeHead(302, { location: '/metadata' }).end();
      if (req.url === '/huge') return res.writeHead(200, { 'content-type': 'application/xml' }).end(`<x>${CANARY}${'x'.repeat(2 << 20)}</x>`);
      res.writeHead(404).end(CANARY);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(certs, { recursive: true, force: true });
  });

  /** Two tenants: an IdP in the default tenant whose metadata is at `path`, and a space in another. */
  const configure = (path: string) => ws.write('config/a.yaml', doc('IdentityProvider', 'idp', `type: GenericSaml2\nmetadataUrl: ${base}${path}`) + OTHER_TENANT);
  const round = (...flags: string[]) => mdmopsAsync(['run', '--watch', 'config', '--once', ...flags], { cwd: ws.dir, env: { NODE_EXTRA_CA_CERTS: caFile } });
  const ready = () => readyOf(ws, 'IdentityProvider/idp');
  const everything = async () => {
    const outputs = await Promise.all([['status', '-o', 'yaml'], ['notifications', '--all', '-o', 'json'], ['audit', '-o', 'json']].map((args) => mdmopsAsync(args, { cwd: ws.dir })));
    return outputs.map((o) => o.stdout + o.stderr).join('\n');
  };

  it('refuses an address on this machine without sending anything', async () => {
    configure('/metadata');
    const r = await round();
    expect(hits).toEqual([]);
    const c = await ready();
    expect(c).toMatchObject({ status: 'False', reason: 'IdpMetadataUnreachable' });
    expect(c.message).toContain('127.0.0.1 is an internal address (loopback, link-local or the cluster\'s service range), which a tenant\'s resources may not reach: start mdmops with --allow-internal-targets to allow it');
    expect(r.stdout + r.stderr + (await everything())).not.toContain(CANARY);
  });

  it('refuses an ACME directory on this machine, by address and by name, and reaches it with --allow-internal-targets', async () => {
    const port = new URL(base).port;
    const configureAcme = (at: Workspace, host: string) =>
      at.write('config/a.yaml', doc('CertificateAuthority', 'acme', `type: PublicCloud\ndirectoryUrl: https://${host}:${port}/acme/directory\nemail: pki@contoso.com\ntermsOfServiceAgreed: true`) + OTHER_TENANT);
    for (const host of ['127.0.0.1', 'localhost'] as const) {
      configureAcme(acmeWs[host], host);
      await mdmopsAsync(['run', '--watch', 'config', '--once'], { cwd: acmeWs[host].dir, env: { NODE_EXTRA_CA_CERTS: caFile } });
      expect(hits.filter((h) => h.startsWith('/acme')), host).toEqual([]);
      expect((await readyOf(acmeWs[host], 'CertificateAuthority/acme')).message, host).toContain("127.0.0.1 is an internal address (loopback, link-local or the cluster's service range)");
    }
    configureAcme(acmeWs.allowed, 'localhost');
    const reached = await mdmopsAsync(['run', '--watch', 'config', '--once', '--allow-internal-targets'], { cwd: acmeWs.allowed.dir, env: { NODE_EXTRA_CA_CERTS: caFile } });
    expect(hits.filter((h) => h.startsWith('/acme')).length).toBeGreaterThan(0);
    expect(reached.stdout + reached.stderr).toContain('answered HTTP 404');
    // What the internal server answered (its 404 page is the canary) is not shown.
    expect(reached.stdout + reached.stderr).not.toContain(CANARY);
  });

  it('refuses every spelling of an internal address: decimal, short, IPv4-mapped, unspecified, metadata services, --internal-range', async () => {
    const hosts = ['2130706433', '127.1', '0x7f.1', '[::ffff:7f00:1]', '[::]', '0', '169.254.169.254', '[fd00:ec2::254]', '100.100.100.200', '10.96.0.1', '[::ffff:10.96.0.1]'];
    const spelled = workspace();
    // One tenant per address, each with its IdentityProvider.
    spelled.write('config/a.yaml', hosts.map((h, i) => doc('IdentityProvider', 'idp', `type: GenericSaml2\nmetadataUrl: https://${h}/metadata`).replace('metadata:\n', `metadata:\n  namespace: t${i}\n`)).join(''));
    const r = await mdmopsAsync(['run', '--watch', 'config', '--once', '--internal-range', '10.96.0.0/12'], { cwd: spelled.dir });
    expect(r.code, r.stderr).toBe(0);
    for (const [i, h] of hosts.entries()) {
      const c = await readyOf(spelled, `IdentityProvider/t${i}/idp`);
      expect(c.reason, h).toBe('IdpMetadataUnreachable');
      expect(c.message, h).toContain('is an internal address (loopback, link-local or the cluster\'s service range)');
    }
  });

  it('with --allow-internal-targets, follows a redirect only to the same scheme and host, and reads no more than the cap', async () => {
    for (const [path, message] of [
      ['/elsewhere', 'redirects to https://127.0.0.2:'],
      ['/downgrade', 'redirects to http://127.0.0.1:'],
      ['/huge', 'the answer is larger than 1048576 bytes'],
    ] as const) {
      configure(path);
      const r = await round('--allow-internal-targets');
      const c = await ready();
      expect(c, path).toMatchObject({ status: 'False', reason: 'IdpMetadataUnreachable' });
      expect(c.message, path).toContain(message);
      expect(r.stdout + r.stderr + (await everything()), path).not.toContain(CANARY);
    }
    expect(hits.filter((h) => h === '/metadata')).toEqual([]); // the redirects were not followed

    configure('/same-host');
    await round('--allow-internal-targets');
    expect(await ready()).toMatchObject({ status: 'True', reason: 'MetadataValid' });
    expect(hits.filter((h) => h === '/metadata').length).toBeGreaterThan(0);
  });
});

describe('an identity source in a mode tenants share', () => {
  // A store each: a sync that failed is not due again in the next round.
  const byHost = { '127.0.0.1': workspace(), localhost: workspace() };
  const allowedWs = workspace();
  let entra: EntraEmulator;
  beforeAll(async () => {
    entra = await startEntra({ users: 3 });
  });
  afterAll(() => entra?.stop());

  const source = (url: string, extra = '') => doc('EntraIdSource', 'entra', `displayName: Entra\ntenantId: ${entra.tenantId}\nclientId: ${entra.clientId}\nauthorityHost: ${url}\ngraphEndpoint: ${url}\nclientSecretRef: { name: entra, key: secret }\nsyncInterval: 1m${extra}`) + OTHER_TENANT;
  const env = () => ({ NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_ENTRA__SECRET: entra.secret });

  it('sends no secret to an internal address, by address or by name: each connection is checked before its token is asked for', async () => {
    const port = new URL(entra.url).port;
    for (const [host, refusal] of [
      ['127.0.0.1', "127.0.0.1 is an internal address (loopback, link-local or the cluster's service range)"],
      // A name is checked on the address it resolves to, when msal's connection is made.
      ['localhost', "localhost: 127.0.0.1 is an internal address (loopback, link-local or the cluster's service range)"],
    ] as const) {
      const ws = byHost[host];
      ws.write('config/a.yaml', source(`https://${host}:${port}`, `\nallowedAuthorityHosts: [${host}]`));
      const refused = await mdmopsAsync(['run', '--watch', 'config', '--once'], { cwd: ws.dir, env: env() });
      expect(await entra.requests(), host).toEqual([]);
      expect(refused.stdout + refused.stderr, host).toContain(refusal);
      expect(refused.stdout + refused.stderr + (await mdmopsAsync(['status', '-o', 'yaml'], { cwd: ws.dir })).stdout).not.toContain(entra.secret);
    }

    // The same configuration, allowed: synced (a store of its own, where the sync is due).
    allowedWs.write('config/a.yaml', source(entra.url));
    const allowed = await mdmopsAsync(['run', '--watch', 'config', '--once', '--allow-internal-targets'], { cwd: allowedWs.dir, env: env() });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await entra.requests()).length).toBeGreaterThan(0);
    const users = await mdmopsAsync(['users', '-o', 'json'], { cwd: allowedWs.dir });
    expect(JSON.parse(users.stdout)).toHaveLength(3);
  });
});

describe("an Entra ID authority that is not a Microsoft cloud's, in a mode tenants share", () => {
  const refusedWs = workspace();
  const listedWs = workspace();
  const acmeWs = workspace();
  let server: Server;
  let internal: NetServer;
  let internalConnections = 0;
  let url: string;
  let caFile: string;
  const hits: string[] = [];
  const certs = mkdtempSync(join(tmpdir(), 'mdmops-authority-'));
  // An address of this machine that is not internal (not loopback, not link-local): as a host on
  // the internet would be, as far as the outbound policy can tell.
  const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal && !i.address.startsWith('169.254.'))?.address;

  beforeAll(async () => {
    if (!external) throw new Error('this machine has no IPv4 address besides loopback and link-local: the test needs one');
    const ca = await makeCa(certs, 'ca', 'Authority test CA');
    const tls = await issueCert(certs, ca, 'server', { subject: '/CN=authority', usage: 'serverAuth', san: `IP:${external}` });
    caFile = ca.cert;
    internal = createNetServer((socket) => {
      internalConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve));
    const inside = `https://127.0.0.1:${(internal.address() as AddressInfo).port}`;
    server = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
      hits.push(`${req.method} ${req.url}`);
      // An ACME directory outside whose endpoints lead inside.
      if (req.url === '/acme/directory') return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newNonce: `${inside}/nonce`, newAccount: `${inside}/account`, newOrder: `${inside}/order` }));
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' }));
    });
    await new Promise<void>((resolve) => server.listen(0, external, resolve));
    url = `https://${external}:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => internal.close(() => resolve()));
    rmSync(certs, { recursive: true, force: true });
  });

  const configure = (ws: Workspace, extra = '') =>
    ws.write('config/a.yaml', doc('EntraIdSource', 'entra', `displayName: Entra\ntenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47\nclientId: 2f3e1a9c-5b7d-4e8f-9a0b-1c2d3e4f5a6b\nauthorityHost: ${url}\ngraphEndpoint: ${url}\nclientSecretRef: { name: entra, key: secret }${extra}`) + OTHER_TENANT);
  const round = (ws: Workspace) => mdmopsAsync(['run', '--watch', 'config', '--once'], { cwd: ws.dir, env: { NODE_EXTRA_CA_CERTS: caFile, MDMOPS_SECRET_ENTRA__SECRET: CANARY } });

  it('sends the client secret only once the spec lists the host in allowedAuthorityHosts', async () => {
    configure(refusedWs);
    const refused = await round(refusedWs);
    expect(hits).toEqual([]);
    const condition = await readyOf(refusedWs, 'EntraIdSource/entra');
    expect(condition).toMatchObject({ status: 'False', reason: 'EndpointNotAllowed' });
    expect(condition.message).toContain(`authorityHost ${url} is not a Microsoft cloud's: list ${external} in spec.allowedAuthorityHosts`);
    expect(refused.stdout + refused.stderr).toContain('allowedAuthorityHosts');

    configure(listedWs, `\nallowedAuthorityHosts: [${external}]`);
    const sent = await round(listedWs);
    // Listed, it is asked for a token (and refuses this secret): the list was all that stopped it.
    expect(hits.filter((h) => h.startsWith('POST ') && h.includes('/oauth2/v2.0/token')).length).toBeGreaterThan(0);
    expect(sent.stdout + sent.stderr).toContain('AADSTS7000215');
    expect(sent.stdout + sent.stderr + (await mdmopsAsync(['status', '-o', 'yaml'], { cwd: listedWs.dir })).stdout).not.toContain(CANARY);
  });

  it('an ACME directory outside cannot send mdmops to an address inside', async () => {
    acmeWs.write('config/a.yaml', doc('CertificateAuthority', 'acme', `type: PublicCloud\ndirectoryUrl: ${url}/acme/directory\nemail: pki@contoso.com\ntermsOfServiceAgreed: true`) + OTHER_TENANT);
    const r = await mdmopsAsync(['run', '--watch', 'config', '--once'], { cwd: acmeWs.dir, env: { NODE_EXTRA_CA_CERTS: caFile } });
    expect(hits).toContain('GET /acme/directory');
    expect(r.code, r.stderr).toBe(0);
    expect(internalConnections).toBe(0);
    expect((await readyOf(acmeWs, 'CertificateAuthority/acme')).message).toContain("127.0.0.1 is an internal address (loopback, link-local or the cluster's service range)");
  });
});
