// Where the controller finds its cluster: kubeconfig files (as kubectl reads them), the in-cluster
// ServiceAccount, and the library's reading for an exec plugin.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import { loadKubeAccess } from '../src/kube/kubeconfig.js';

let dir: string;
beforeEach(() => void (dir = mkdtempSync(join(tmpdir(), 'mdmops-kubeconfig-'))));
afterEach(() => {
  vi.useRealTimers();
  rmSync(dir, { recursive: true, force: true });
});

const b64 = (text: string) => Buffer.from(text).toString('base64');
function kubeconfig(name: string, config: Record<string, unknown>): string {
  const file = join(dir, name);
  writeFileSync(file, stringify({ apiVersion: 'v1', kind: 'Config', ...config }));
  return file;
}
const context = (name: string, cluster: string, user: string) => ({ name, context: { cluster, user } });

it('reads a client certificate and its CA from the data fields', async () => {
  const file = kubeconfig('admin', {
    'current-context': 'test',
    contexts: [context('test', 'c', 'admin')],
    clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('CA PEM') } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64('CERT PEM'), 'client-key-data': b64('KEY PEM') } }],
  });
  const access = await loadKubeAccess(file, {});
  expect(access.server).toBe('https://127.0.0.1:6443');
  const c = await access.credentials();
  expect([String(c.ca), String(c.cert), String(c.key)]).toEqual(['CA PEM', 'CERT PEM', 'KEY PEM']);
  expect(c.headers).toEqual({});
});

it('reads files relative to the kubeconfig, a token, the TLS server name and insecure-skip-tls-verify', async () => {
  mkdirSync(join(dir, 'pki'));
  writeFileSync(join(dir, 'pki', 'ca.crt'), 'CA FROM FILE');
  const file = kubeconfig('token', {
    'current-context': 'test',
    contexts: [context('test', 'c', 'bot')],
    clusters: [{ name: 'c', cluster: { server: 'https://api.example.test', 'certificate-authority': 'pki/ca.crt', 'tls-server-name': 'kubernetes.default', 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'bot', user: { token: 'abc.def' } }],
  });
  const c = await (await loadKubeAccess(file, {})).credentials();
  expect(String(c.ca)).toBe('CA FROM FILE');
  expect(c.servername).toBe('kubernetes.default');
  expect(c.rejectUnauthorized).toBe(false);
  expect(c.headers).toEqual({ authorization: 'Bearer abc.def' });
});

it('reads a tokenFile again once a minute, as the token in it is renewed', async () => {
  vi.useFakeTimers({ toFake: ['Date'] });
  writeFileSync(join(dir, 'token'), 'first\n');
  const file = kubeconfig('tokenfile', {
    'current-context': 'test',
    contexts: [context('test', 'c', 'bot')],
    clusters: [{ name: 'c', cluster: { server: 'https://api.example.test' } }],
    users: [{ name: 'bot', user: { tokenFile: 'token' } }],
  });
  const access = await loadKubeAccess(file, {});
  expect((await access.credentials()).headers.authorization).toBe('Bearer first');
  writeFileSync(join(dir, 'token'), 'second\n');
  expect((await access.credentials()).headers.authorization).toBe('Bearer first');
  vi.advanceTimersByTime(61_000);
  expect((await access.credentials()).headers.authorization).toBe('Bearer second');
});

it('merges the files of KUBECONFIG as kubectl does: the first current-context and the first of each name win, a missing file is left out', async () => {
  const a = kubeconfig('a', {
    'current-context': 'from-a',
    contexts: [context('from-a', 'shared', 'in-b')],
    clusters: [{ name: 'shared', cluster: { server: 'https://a.example.test' } }],
  });
  const b = kubeconfig('b', {
    'current-context': 'from-b',
    contexts: [context('from-b', 'shared', 'in-b')],
    clusters: [{ name: 'shared', cluster: { server: 'https://b.example.test' } }],
    users: [{ name: 'in-b', user: { token: 'from-b' } }],
  });
  const access = await loadKubeAccess(undefined, { KUBECONFIG: [join(dir, 'missing'), a, b].join(':') });
  expect(access.server).toBe('https://a.example.test');
  expect((await access.credentials()).headers.authorization).toBe('Bearer from-b');
});

it('says what is missing: no current-context, a context or cluster that is not there', async () => {
  const none = kubeconfig('none', { clusters: [] });
  await expect(loadKubeAccess(none, {})).rejects.toThrow('the kubeconfig has no current-context');
  const noContext = kubeconfig('no-context', { 'current-context': 'gone' });
  await expect(loadKubeAccess(noContext, {})).rejects.toThrow('the kubeconfig has no context "gone"');
  const noCluster = kubeconfig('no-cluster', { 'current-context': 'x', contexts: [context('x', 'absent', 'u')] });
  await expect(loadKubeAccess(noCluster, {})).rejects.toThrow('the kubeconfig has no cluster "absent" with a server');
  await expect(loadKubeAccess(join(dir, 'absent'), {})).rejects.toThrow('ENOENT');
});

it('in a cluster: the ServiceAccount token and CA, and the service address (IPv6 in brackets)', async () => {
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa);
  writeFileSync(join(sa, 'token'), 'sa-token');
  writeFileSync(join(sa, 'ca.crt'), 'CLUSTER CA');
  const access = await loadKubeAccess(undefined, { HOME: dir, KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, sa);
  expect(access.server).toBe('https://[fd00::1]:443');
  const c = await access.credentials();
  expect(String(c.ca)).toBe('CLUSTER CA');
  expect(c.headers).toEqual({ authorization: 'Bearer sa-token' });
  await expect(loadKubeAccess(undefined, { HOME: dir }, join(dir, 'no-serviceaccount'))).rejects.toThrow('no kubeconfig (--kubeconfig, KUBECONFIG or ~/.kube/config), and no ServiceAccount token');
});

it('hands a user that runs a command (exec) to @kubernetes/client-node, which runs it for the token', async () => {
  const plugin = join(dir, 'plugin.sh');
  writeFileSync(plugin, `#!/bin/sh\necho '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'\n`);
  chmodSync(plugin, 0o755);
  const file = kubeconfig('exec', {
    'current-context': 'test',
    contexts: [context('test', 'c', 'exec')],
    clusters: [{ name: 'c', cluster: { server: 'https://api.example.test', 'certificate-authority-data': b64('CA PEM') } }],
    users: [{ name: 'exec', user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: plugin, interactiveMode: 'Never' } } }],
  });
  const access = await loadKubeAccess(file, {});
  expect(access.server).toBe('https://api.example.test');
  const c = await access.credentials();
  expect(Object.entries(c.headers)).toEqual([['Authorization', 'Bearer from-exec']]);
  expect(String(c.ca)).toBe('CA PEM');
});
