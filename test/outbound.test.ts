// What a tenant's spec can make mdmops fetch, tried as a tenant would (SSRF): in a mode tenants share
// (mdmops run with a configuration of two tenants), an IdentityProvider metadataUrl on this machine is
// refused before a byte is sent, with --allow-internal-targets a redirect to another host or scheme
// is not followed and an answer past the cap is not read, and what an internal server answered
// never reaches status, notifications or the log.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mdmopsAsync } from './support/cli.js';
import { idpMetadata, signingCertificate } from './support/saml.js';
import { doc, workspace } from './support/workspace.js';
import { makeServerCertificate } from './servers/tls.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';

const CANARY = 'internal-canary-5e21b7';

describe('tenant-supplied URLs in a mode tenants share', () => {
  const ws = workspace();
  let server: Server;
  let base: string;
  let caFile: string;
  const hits: string[] = [];
  const certs = mkdtempSync(join(tmpdir(), 'mdmops-outbound-'));

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
  const configure = (path: string) =>
    ws.write('config/a.yaml', doc('IdentityProvider', 'idp', `type: GenericSaml2\nmetadataUrl: ${base}${path}`) + doc('Space', 'other', 'displayName: Other\npriority: 1\nmembers: { groups: [o] }\nadmins: { groups: [o-admins] }').replace('metadata:\n', 'metadata:\n  namespace: tenant-b\n'));
  const round = (...flags: string[]) => mdmopsAsync(['run', '--watch', 'config', '--once', ...flags], { cwd: ws.dir, env: { NODE_EXTRA_CA_CERTS: caFile } });
  const ready = async () => {
    const r = await mdmopsAsync(['status', 'IdentityProvider/idp', '-o', 'json'], { cwd: ws.dir });
    return JSON.parse(r.stdout).status.conditions.find((c: { type: string }) => c.type === 'Ready') as { status: string; reason: string; message: string };
  };
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
  const ws = workspace();
  const allowedWs = workspace();
  let entra: EntraEmulator;
  beforeAll(async () => {
    entra = await startEntra({ users: 3 });
  });
  afterAll(() => entra?.stop());

  it('sends no secret to an internal address: the sync is refused before its token is asked for', async () => {
    const config = () => doc('EntraIdSource', 'entra', `displayName: Entra\ntenantId: ${entra.tenantId}\nclientId: ${entra.clientId}\nauthorityHost: ${entra.url}\ngraphEndpoint: ${entra.url}\nclientSecretRef: { name: entra, key: secret }\nsyncInterval: 1m`) + doc('Space', 'other', 'displayName: Other\npriority: 1\nmembers: { groups: [o] }\nadmins: { groups: [o-admins] }').replace('metadata:\n', 'metadata:\n  namespace: tenant-b\n');
    ws.write('config/a.yaml', config());
    const env = { NODE_EXTRA_CA_CERTS: entra.caFile, MDMOPS_SECRET_ENTRA__SECRET: entra.secret };
    const refused = await mdmopsAsync(['run', '--watch', 'config', '--once'], { cwd: ws.dir, env });
    expect(await entra.requests()).toEqual([]);
    expect(refused.stdout + refused.stderr).toContain("is an internal address (loopback, link-local or the cluster's service range)");
    expect(refused.stdout + refused.stderr).not.toContain(entra.secret);

    // The same configuration, allowed: synced (a store of its own, where the sync is due).
    allowedWs.write('config/a.yaml', config());
    const allowed = await mdmopsAsync(['run', '--watch', 'config', '--once', '--allow-internal-targets'], { cwd: allowedWs.dir, env });
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await entra.requests()).length).toBeGreaterThan(0);
    const users = await mdmopsAsync(['users', '-o', 'json'], { cwd: allowedWs.dir });
    expect(JSON.parse(users.stdout)).toHaveLength(3);
  });
});
