// The web console in a real browser (Debian's Chromium, driven by playwright-core), as an
// administrator uses it: sign in with a token from the CLI, the overview, a filtered and paged
// resource list, a resource whose spec holds planted markup (which must not run), sign out. The
// Content-Security-Policy must hold (no violation reported) and no request may leave this origin.
// Screenshots of each page go to test-output/console/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './servers/ports.js';
import { startEntra, type EntraEmulator } from './servers/entra.js';
import { ROOT } from './support/cli.js';
import { startMdmops, type RunningMdmops } from './support/run.js';
import { doc, workspace } from './support/workspace.js';

const SHOTS = join(ROOT, 'test-output', 'console');
const PLANTED = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>';

describe('the web console in Chromium', () => {
  const ws = workspace();
  let served: RunningMdmops;
  let browser: Browser;
  let entra: EntraEmulator;
  let base = '';
  const env = () => ({ MDMOPS_SECRET_ENTRA__SECRET: entra.secret, NODE_EXTRA_CA_CERTS: entra.caFile });

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const spaces = Array.from({ length: 55 }, (_, i) => doc('Space', `space-${String(i).padStart(2, '0')}`, `displayName: ${i === 3 ? JSON.stringify(PLANTED) : `Space ${i}`}\npriority: ${i + 1}\nmembers: { groups: [g${i}] }\nadmins: { groups: [a${i}] }`));
    const wifi = doc('CertificateConfiguration', 'wifi', 'identity: { certificateAuthorityRef: { name: root }, subject: "CN=${userUPN}", keyAlgorithm: ECDSA-P256, validity: 365d }\ndistribution: { devices: Custom, selector: { groups: [g1] }, otherSpaces: ApplyToDevicesInOtherSpaces, allowSpaceAdminToModifyDistribution: true }');
    entra = await startEntra({ users: 20 });
    const source = doc('EntraIdSource', 'contoso', `${entra.sourceSpec()}\nclientSecretRef: { name: entra, key: secret }`);
    ws.write('config/tenant.yaml', doc('CertificateAuthority', 'root', 'type: Local\nsubject: { commonName: Root }\nkeyAlgorithm: ECDSA-P256\nvalidity: 3650d') + wifi + source + spaces.join(''));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    // A few syncs as the directory grows, for the source's charts.
    for (const more of [0, 15, 40, 10]) {
      if (more) await entra.generateUsers(more);
      expect(ws.run(['sync', 'EntraIdSource/contoso'], env()).code).toBe(0);
    }
    const port = await freePort();
    served = await startMdmops('serve', ws.dir, ['--interval', '1h', '--console-listen', `127.0.0.1:${port}`], env());
    await served.waitFor('the console', () => served.output().includes('console on http://'));
    base = `http://127.0.0.1:${port}`;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
    await served?.stop();
    await entra?.stop();
  });

  it('signs in, shows every page, runs no planted markup, breaks no CSP rule and asks no other origin', async () => {
    const token = ws.run(['console', 'token', '--role', 'manager', '--name', 'carol']).stdout.trim();
    const page = await browser.newPage();
    const problems: string[] = [];
    const elsewhere: string[] = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('dialog', (d) => problems.push(`dialog: ${d.message()}`));
    page.on('request', (r) => !r.url().startsWith(base) && elsewhere.push(r.url()));

    await page.goto(`${base}/ui/`);
    expect(page.url()).toBe(`${base}/ui/sign-in`);
    await page.screenshot({ path: join(SHOTS, 'sign-in.png'), fullPage: true });
    await page.fill('#token', token);
    await page.click('button:has-text("Sign in")');
    await page.waitForURL(`${base}/ui/`);
    expect(await page.textContent('header')).toContain('carol (System Manager)');
    expect(await page.textContent('main')).toContain('Space');
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });

    // Live: a change applied with the CLI shows without a reload, while the tab is visible; a hidden tab asks nothing.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    ws.write('config/more.yaml', doc('Space', 'space-99', 'displayName: Late\npriority: 99\nmembers: { groups: [late] }\nadmins: { groups: [late-admins] }'));
    expect(ws.run(['apply', '-f', 'config', '--auto-approve'], env()).code).toBe(0);
    await page.waitForFunction(() => /Space\s*56/.test(document.querySelector('#kinds')?.textContent ?? ''), undefined, { timeout: 20_000 });
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    await page.evaluate(() => Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' }));
    const asked: string[] = [];
    page.on('request', (r) => asked.push(r.url()));
    await page.waitForTimeout(11_000);
    expect(asked).toEqual([]);
    await page.reload();
    await page.click('a:has-text("Resources")');
    await page.selectOption('select[name=kind]', 'Space');
    await page.click('button:has-text("Filter")');
    expect(page.url()).toContain('kind=Space');
    expect(await page.textContent('.count')).toBe('56 resources · page 1 of 2');
    await page.screenshot({ path: join(SHOTS, 'resources.png'), fullPage: true });
    await page.click('a[rel=next]');
    expect(await page.locator('tbody tr').count()).toBe(6);

    await page.goto(`${base}/ui/resources/default/Space/space-03`);
    expect((await page.textContent('pre'))!.replace(/\s+/g, ' ')).toContain(PLANTED); // shown as text (YAML may fold it)
    expect(await page.title()).toBe('Space/space-03 · mdmops');
    await page.screenshot({ path: join(SHOTS, 'resource.png'), fullPage: true });
    await page.goto(`${base}/ui/resources/default/EntraIdSource/contoso`);
    expect(await page.locator('svg[aria-label="sync duration, the last 4 syncs"] rect').count()).toBe(4);
    const users = JSON.parse(ws.run(['status', 'EntraIdSource/contoso', '-o', 'json']).stdout).status.userCount;
    expect((await page.locator('svg[aria-label="users after each sync, the last 4 syncs"] rect title').allTextContents()).at(-1)).toMatch(new RegExp(`: ${users} users, synced$`));
    await page.locator('#sync-history').screenshot({ path: join(SHOTS, 'source-syncs.png') });
    await page.screenshot({ path: join(SHOTS, 'source.png'), fullPage: true });
    await page.goto(`${base}/ui/notifications?all=1`);
    await page.screenshot({ path: join(SHOTS, 'notifications.png'), fullPage: true });

    // The CA certificate to download is the one the CLI shows.
    await page.click('a:has-text("Certificates")');
    expect(await page.locator('svg[aria-label^="certificates expiring per week"]').count()).toBe(1);
    await page.screenshot({ path: join(SHOTS, 'certificates.png'), fullPage: true });
    const download = await page.request.get(`${base}${await page.getAttribute('a.download', 'href')}`);
    expect(await download.text()).toBe(JSON.parse(ws.run(['status', 'CertificateAuthority/root', '-o', 'json']).stdout).status.certificate);
    for (const [link, shot] of [['Distribution', 'distribution'], ['Users', 'users'], ['Connectors', 'connectors'], ['Core sync', 'core-sync']] as const) {
      await page.click(`nav a:has-text("${link}")`);
      await page.screenshot({ path: join(SHOTS, `${shot}.png`), fullPage: true });
    }

    await page.click('button:has-text("Sign out")');
    await page.waitForURL(`${base}/ui/sign-in`);
    await page.goto(`${base}/ui/`);
    expect(page.url()).toBe(`${base}/ui/sign-in`);

    expect(problems).toEqual([]);
    expect(elsewhere).toEqual([]);
  });
});
