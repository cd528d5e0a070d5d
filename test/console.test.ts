// The web console of mdmops serve, over HTTP as a browser speaks it: tokens made with the CLI, sign-in
// and its cookie, the pages and their filters, paging and CSV, roles, CSRF, revocation, and markup
// planted in what the console shows coming back as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './servers/ports.js';
import { eventually } from './support/controller.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { connectedAgent } from './support/agent.js';
import { startMdmops, type RunningMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';
import { postSignIn, sessionCookie } from './support/console.js';

const PLANTED = '"><img src=x onerror=alert(1)><script>alert(2)</script>';
const SPACES = 60;

describe('the web console', () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let served: RunningMdmops;
  let base = '';
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile });
  const token = (role: string, name: string) => {
    const r = ws.run(['console', 'token', '--role', role, '--name', name, '--ttl', '1h']);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim();
  };
  /** A signed-in browser: its cookie, and the page's CSRF token once a page is read. */
  async function signIn(t: string) {
    const res = await postSignIn(base, t);
    expect(res.status).toBe(303);
    const setCookie = res.headers.get('set-cookie') ?? '';
    const cookie = setCookie.split(';')[0]!;
    const get = (path: string) => fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
    const csrf = async () => /name="csrf" value="([^"]+)"/.exec(await (await get('/ui/')).text())![1]!;
    const post = (path: string, fields: Record<string, string>) => fetch(`${base}${path}`, { method: 'POST', headers: { cookie }, body: new URLSearchParams(fields), redirect: 'manual' });
    return { setCookie, get, post, csrf };
  }

  beforeAll(async () => {
    entra = await startEntra({ users: 4 });
    const spaces = Array.from({ length: SPACES }, (_, i) => doc('Space', `space-${String(i).padStart(2, '0')}`, `displayName: ${i === 7 ? JSON.stringify(PLANTED) : `Space ${i}`}\npriority: ${i + 1}\nmembers: { groups: [g${i}] }\nadmins: { groups: [a${i}] }`));
    const pki =
      doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Root }\nkeyAlgorithm: ECDSA-P256\nvalidity: 3650d') +
      ['everyone:\n  devices: AllDevices\n  otherSpaces: ApplyToDevicesInOtherSpaces\n  allowSpaceAdminToModifyDistribution: true', 'space-zero:\n  devices: AllDevices\n  otherSpaces: DoNotApply']
        .map((text) => {
          const [name, distribution] = text.split(':\n') as [string, string];
          return doc('CertificateConfiguration', name, `${name === 'space-zero' ? 'spaceRef: { name: space-00 }\n' : ''}identity: { certificateAuthorityRef: { name: root }, subject: "CN=\${userUPN}", keyAlgorithm: ECDSA-P256, validity: 365d }\ndistribution:\n${distribution.replace(/^/gm, '  ')}`);
        })
        .join('');
    ws.write('config/tenant.yaml', doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }`) + pki + spaces.join(''));
    const applied = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const port = await freePort();
    served = await startMdmops('serve', ws.dir, ['--interval', '1h', '--console-listen', `127.0.0.1:${port}`], env());
    await served.waitFor('the console', () => served.output().includes('console on http://'));
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await served?.stop();
    await entra?.stop();
  });

  it('prints a token alone on standard output and lists tokens without their secret', () => {
    const t = token('read-only', 'auditor');
    expect(t).toMatch(/^mdc_[0-9a-f]{12}_[A-Za-z0-9_-]{32}$/);
    const listed = ws.run(['console', 'tokens', '-o', 'json']);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ name: 'auditor', role: 'read-only', expired: false }));
    expect(listed.stdout).not.toContain(t.split('_')[2]);
  });

  it('lets no one in without a token, and refuses a wrong one', async () => {
    const page = await fetch(`${base}/ui/resources`, { redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/ui/sign-in');
    const wrong = await postSignIn(base, `mdc_000000000000_${'A'.repeat(32)}`);
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('That token is unknown, revoked or expired.');
    // A right token posted without the sign-in form's CSRF token (a form on another site): no session.
    const forged = await fetch(`${base}/ui/sign-in`, { method: 'POST', body: new URLSearchParams({ token: token('read-only', 'forged') }), redirect: 'manual' });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('set-cookie')).not.toMatch(/^mdmops_console=/);
    expect(await forged.text()).toContain('This sign-in form has expired or was sent from another page');
  });

  it('signs in with an HttpOnly, SameSite=Strict cookie, and serves pages under a strict CSP', async () => {
    const browser = await signIn(token('read-only', 'reader'));
    expect(browser.setCookie).toMatch(/^mdmops_console=[A-Za-z0-9_-]+; Path=\/ui; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    const overview = await browser.get('/ui/');
    expect(overview.status).toBe(200);
    expect(overview.headers.get('content-security-policy')).toBe("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    const text = await overview.text();
    expect(text).toContain('reader (System Read-Only)');
    expect(text).toMatch(new RegExp(`<a href="/ui/resources\\?kind=Space">Space</a></td><td>${SPACES}</td>`));
  });

  it('filters, sorts and pages the resources, the filters in the URL, and exports exactly the filtered rows', async () => {
    const browser = await signIn(token('read-only', 'pager'));
    const first = await (await browser.get('/ui/resources?kind=Space')).text();
    expect(first).toContain(`${SPACES} resources · page 1 of 2`);
    expect(first).toContain('href="/ui/resources?kind=Space&amp;page=2"');
    const second = await (await browser.get('/ui/resources?kind=Space&page=2')).text();
    expect(second.match(/href="\/ui\/resources\/default\/Space\//g)).toHaveLength(SPACES - 50);
    const narrowed = await (await browser.get('/ui/resources?kind=Space&q=space-0')).text();
    expect(narrowed).toContain('10 resources');
    const csv = await (await browser.get('/ui/resources.csv?kind=Space&q=space-0')).text();
    expect(csv.trim().split('\r\n')).toHaveLength(11);
    expect(csv.split('\r\n')[1]).toMatch(/^default,Space,space-00,/);
  });

  it('lists what the CLI lists: every resource with its Ready, reason and message, in every filter and order', async () => {
    const browser = await signIn(token('read-only', 'lister'));
    type Item = { kind: string; metadata: { name: string; namespace: string }; status: { conditions?: { type: string; status: string; reason: string; message: string }[] }; updatedAt: string };
    const items = (JSON.parse(ws.run(['status', '-o', 'json']).stdout) as { items: Item[] }).items;
    const shown = (i: { kind: string; tenant: string; name: string }) => (i.tenant === 'default' ? `${i.kind}/${i.name}` : `${i.kind}/${i.tenant}/${i.name}`);
    const cli = items.map((i) => {
      const ready = i.status.conditions?.find((c) => c.type === 'Ready');
      const state = ready?.status ?? 'Unknown';
      return { tenant: i.metadata.namespace, kind: i.kind, name: i.metadata.name, ready: state, reason: state === 'True' ? '' : (ready?.reason ?? ''), message: ready?.message ?? '', updated: i.updatedAt };
    });
    const byShown = (a: { kind: string; tenant: string; name: string }, b: typeof a) => (shown(a) < shown(b) ? -1 : shown(a) > shown(b) ? 1 : 0);
    const csvRows = async (q: string) => {
      const text = await (await browser.get(`/ui/resources.csv${q}`)).text();
      return text.trim().split('\r\n').slice(1).map((line) => {
        const [tenant, kind, name, ready, reason, message, updated] = line.split(',');
        return { tenant: tenant!, kind: kind!, name: name!, ready: ready!, reason: reason!, message: message!, updated: updated! };
      });
    };
    expect(cli.length).toBe(SPACES + 4);
    expect(await csvRows('')).toEqual([...cli].sort(byShown));
    // Not ready or not yet known: the same rows, filtered by Ready and by reason as the CLI has them.
    for (const ready of ['True', 'False', 'Unknown']) expect(await csvRows(`?ready=${ready}`)).toEqual(cli.filter((c) => c.ready === ready).sort(byShown));
    const reason = cli.find((c) => c.reason)?.reason;
    if (reason) expect(await csvRows(`?reason=${reason}`)).toEqual(cli.filter((c) => c.reason === reason).sort(byShown));
    // Newest first; and paged, the pages together are the list.
    const updated = await csvRows('?sort=updated');
    expect(updated.map((r) => r.updated)).toEqual(cli.map((c) => c.updated).sort().reverse());
    const paged = [1, 2].flatMap(async (page) => [...(await (await browser.get(`/ui/resources?sort=ready&page=${page}`)).text()).matchAll(/<tr><td><a href="\/ui\/resources\/([^/]+)\/([^/]+)\/([^"]+)">/g)].map((m) => `${m[2]}/${m[3]}`));
    expect((await Promise.all(paged)).flat()).toEqual((await csvRows('?sort=ready')).map((r) => `${r.kind}/${r.name}`));
    // A LIKE wildcard is text: nothing holds it.
    expect(await (await browser.get('/ui/resources?q=%25')).text()).toContain('0 resources');
    expect(await (await browser.get('/ui/resources?q=SPACE-0')).text()).toContain('10 resources');
  });

  it("shows what references a resource, and what it references, as the kinds' references say", async () => {
    const browser = await signIn(token('read-only', 'referrer'));
    const page = await (await browser.get('/ui/resources/default/CertificateAuthority/root')).text();
    const referencedBy = /<h3>Referenced by<\/h3><ul>(.*?)<\/ul>/s.exec(page)![1]!;
    expect([...referencedBy.matchAll(/<a href="([^"]+)">/g)].map((m) => m[1])).toEqual(['/ui/resources/default/CertificateConfiguration/everyone', '/ui/resources/default/CertificateConfiguration/space-zero']);
    const configuration = await (await browser.get('/ui/resources/default/CertificateConfiguration/space-zero')).text();
    const references = /<h2>References<\/h2><ul>(.*?)<\/ul>/s.exec(configuration)![1]!;
    expect([...references.matchAll(/<a href="([^"]+)">/g)].map((m) => m[1]).sort()).toEqual(['/ui/resources/default/CertificateAuthority/root', '/ui/resources/default/Space/space-00']);
    // A Space whose name another Space's spec holds only as text (a group) is referenced by none.
    expect(/<h3>Referenced by<\/h3><ul><\/ul>/.test(await (await browser.get('/ui/resources/default/Space/space-01')).text())).toBe(true);
  });

  it('shows markup planted in a spec or a URL as text', async () => {
    const browser = await signIn(token('read-only', 'xss'));
    const page = await (await browser.get('/ui/resources/default/Space/space-07')).text();
    expect(page).not.toContain('<img src=x');
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('&lt;script&gt;alert(2)&lt;/script&gt;');
    const reflected = await (await browser.get(`/ui/resources?q=${encodeURIComponent(PLANTED)}`)).text();
    expect(reflected).not.toContain('<img src=x');
    expect(reflected).toContain('value="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
  });

  it('shows drift as a field diff: what mdmops applied and what the tenant holds now, until an apply puts it back', async () => {
    const browser = await signIn(token('read-only', 'drift'));
    const drift = async () => /<section id="drift">(.*?)<\/section>/s.exec(await (await browser.get('/ui/resources/default/Space/space-03')).text())?.[1];
    expect(await drift()).toBeUndefined();
    const edited = ws.run(['tenant', 'set', 'Space/space-03', 'priority=900']);
    expect(edited.code, edited.stderr).toBe(0);
    expect(ws.run(['tenant', 'set', 'Space/space-03', 'priority=901', 'displayName=Renamed']).code).toBe(0);
    const rows = [...(await drift())!.matchAll(/<tr><td>([^<]*)<\/td><td>([^<]*)<\/td><td>([^<]*)<\/td><\/tr>/g)].map((m) => m.slice(1));
    // Against what was applied, not the first edit.
    expect(rows).toEqual([['spec.displayName', '&quot;Space 3&quot;', '&quot;Renamed&quot;'], ['spec.priority', '4', '901']]);
    const applied = ws.run(['apply', '-f', 'config', '--auto-approve'], env());
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(await drift()).toBeUndefined();
  });

  it('refuses a read-only action (403) and a form without its CSRF token (403); a manager syncs, audited by name', async () => {
    const reader = await signIn(token('read-only', 'reader-2'));
    const refused = await reader.post('/ui/resources/default/EntraIdSource/contoso/sync', { csrf: await reader.csrf() });
    expect(refused.status).toBe(403);
    const manager = await signIn(token('manager', 'bob'));
    expect((await manager.post('/ui/resources/default/EntraIdSource/contoso/sync', {})).status).toBe(403);
    const synced = await manager.post('/ui/resources/default/EntraIdSource/contoso/sync', { csrf: await manager.csrf() });
    expect(synced.status).toBe(303);
    const audit = ws.run(['audit']).stdout;
    expect(audit).toMatch(/console-sync\s.*console:bob/);
    expect(ws.run(['users', '-o', 'json']).stdout).toContain(entra.generatedUser(0).userPrincipalName as string);
    // The users page shows the same users as the CLI.
    const cliUsers = (JSON.parse(ws.run(['users', '-o', 'json']).stdout) as { upn: string }[]).map((u) => u.upn).sort();
    const page = await (await manager.get('/ui/users')).text();
    expect(page).toContain(`${cliUsers.length} users`);
    for (const upn of cliUsers) expect(page).toContain(`<td>${upn}</td>`);
    // Filtered and paged in the store: one user by a part of its UPN, none by a LIKE wildcard alone.
    const one = await (await manager.get(`/ui/users?q=${encodeURIComponent(cliUsers[1]!.split('@')[0]!.toUpperCase())}`)).text();
    expect(one).toContain('1 user<');
    expect(one).toContain(`<td>${cliUsers[1]}</td>`);
    expect(await (await manager.get('/ui/users?q=%25')).text()).toContain('0 users');
  });

  it('maps the distribution: the users each configuration reaches, as the CLI counts them, and who may change it', async () => {
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0); // the synced users placed
    const browser = await signIn(token('read-only', 'mapper'));
    const page = await (await browser.get('/ui/distribution')).text();
    for (const name of ['everyone', 'space-zero']) {
      const counted = JSON.parse(ws.run(['status', `CertificateConfiguration/${name}`, '-o', 'json']).stdout).status.reachedCount;
      expect(page).toMatch(new RegExp(`>${name}</a></td>(<td>[^<]*</td>){3}<td class="reached">${counted}</td>`));
    }
    expect(page).toMatch(/>everyone<\/a><\/td><td>AllDevices<\/td><td>\(default\)<\/td><td>ApplyToDevicesInOtherSpaces<\/td><td class="reached">4<\/td><td>\(default\): 4<\/td><td>yes: each space&#39;s admins, for its devices<\/td>/);
    expect(page).toMatch(/>space-zero<\/a><\/td><td>AllDevices<\/td><td>space-00<\/td><td>DoNotApply<\/td><td class="reached">0<\/td><td><\/td><td>no<\/td>/);
  });

  it('ends the sessions of a revoked token at once, and signs out', async () => {
    const browser = await signIn(token('read-only', 'leaving'));
    expect((await browser.get('/ui/')).status).toBe(200);
    expect(ws.run(['console', 'tokens', '--revoke', 'leaving']).stdout).toContain('revoked 1 token');
    expect((await browser.get('/ui/')).status).toBe(303);

    const other = await signIn(token('read-only', 'short'));
    const out = await other.post('/ui/sign-out', { csrf: await other.csrf() });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0');
    expect((await other.get('/ui/')).status).toBe(303);
  });
});

describe("a source's syncs, charted", () => {
  const ws = workspace();
  let entra: EntraEmulator;
  let served: RunningMdmops | undefined;
  afterAll(async () => {
    await served?.stop();
    await entra?.stop();
  });

  it('draws the duration and the users of each sync the CLI ran, each value as text', async () => {
    entra = await startEntra({ users: 3 });
    const env = { MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile };
    ws.write('config/tenant.yaml', doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }`));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env).code).toBe(0);
    const syncs: { lastSyncTime: string; lastSyncDuration: string; userCount: number }[] = [];
    for (const more of [0, 2, 5]) {
      if (more) await entra.generateUsers(more);
      const synced = ws.run(['sync', 'EntraIdSource/contoso'], env);
      expect(synced.code, synced.stderr).toBe(0);
      syncs.push(JSON.parse(ws.run(['status', 'EntraIdSource/contoso', '-o', 'json']).stdout).status);
    }
    expect(syncs.map((s) => s.userCount)).toEqual([3, 5, 10]);

    const port = await freePort();
    served = await startMdmops('serve', ws.dir, ['--interval', '1h', '--console-listen', `127.0.0.1:${port}`], env);
    await served.waitFor('the console', () => served!.output().includes('console on http://'));
    const t = ws.run(['console', 'token', '--role', 'read-only', '--name', 'charts']).stdout.trim();
    const cookie = await sessionCookie(`http://127.0.0.1:${port}`, t);
    const page = await (await fetch(`http://127.0.0.1:${port}/ui/resources/default/EntraIdSource/contoso`, { headers: { cookie } })).text();
    const chart = (label: string) => {
      const svg = new RegExp(`<svg role="img" aria-label="${label}, the last 3 syncs"[^>]*>(.*?)</svg>`, 's').exec(page)?.[1];
      expect(svg, label).toBeDefined();
      return [...svg!.matchAll(/<rect [^>]*><title>([^<]*)<\/title><\/rect>/g)].map((m) => m[1]);
    };
    expect(chart('sync duration')).toEqual(syncs.map((s) => `${s.lastSyncTime}: ${parseInt(s.lastSyncDuration)} ms, synced`));
    expect(chart('users after each sync')).toEqual(syncs.map((s) => `${s.lastSyncTime}: ${s.userCount} users, synced`));
  });
});

describe("a connector's logs, from the console", () => {
  const ws = workspace();
  let running: Awaited<ReturnType<typeof connectedAgent>>;
  let base = '';
  beforeAll(async () => {
    ws.write('config/tenant.yaml', doc('Connector', 'dc', 'hosting: OnPremises'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve']).code).toBe(0);
    const port = await freePort();
    running = await connectedAgent(ws, 'dc', { serveArgs: ['--console-listen', `127.0.0.1:${port}`] });
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => running?.stop());

  const signIn = async (role: string) => {
    const t = ws.run(['console', 'token', '--role', role, '--name', `logs-${role}`]).stdout.trim();
    const cookie = await sessionCookie(base, t);
    const get = (path: string) => fetch(`${base}${path}`, { headers: { cookie }, redirect: 'manual' });
    const csrf = /name="csrf" value="([^"]+)"/.exec(await (await get('/ui/')).text())![1]!;
    const post = (path: string, fields: Record<string, string>) => fetch(`${base}${path}`, { method: 'POST', headers: { cookie }, body: new URLSearchParams({ csrf, ...fields }), redirect: 'manual' });
    return { get, post };
  };

  it('lets a manager collect and download them, and a read-only session neither', async () => {
    const reader = await signIn('read-only');
    expect(await (await reader.get('/ui/connectors')).text()).not.toContain('Collect logs');
    expect((await reader.post('/ui/connectors/default/dc/logs', { do: 'request' })).status).toBe(403);
    expect((await reader.get('/ui/connectors/default/dc/logs.zip')).status).toBe(403);

    const manager = await signIn('manager');
    expect(await (await manager.get('/ui/connectors')).text()).toContain('Collect logs');
    expect((await manager.post('/ui/connectors/default/dc/logs', { do: 'request' })).status).toBe(303);
    await eventually('the collection ready', async () => (await (await manager.get('/ui/connectors')).text()).includes('<span class="logs-state">ready</span>'));
    const zip = await manager.get('/ui/connectors/default/dc/logs.zip');
    expect(zip.status).toBe(200);
    const bytes = Buffer.from(await zip.arrayBuffer());
    expect(bytes.subarray(0, 4).toString('latin1')).toBe('PK\u0003\u0004');
    expect(bytes.toString('latin1')).toContain('kocab.log');
    expect(ws.run(['audit']).stdout).toMatch(/console-request-logs\s.*console:logs-manager/);
  });
});
