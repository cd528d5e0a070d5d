// Loading: multi-document files, List objects, positions, and hostile input refused quickly.
import { describe, expect, it } from 'vitest';
import { API, lines, resource, validateText } from './support/sources.js';
import { workspace } from './support/workspace.js';

const connector = (name: string, spec = '{}') => `${API}\nkind: Connector\nmetadata:\n  name: ${name}\nspec: ${spec}\n`;

describe('documents', () => {
  it('reads every document of a multi-document file and skips empty ones', () => {
    const r = validateText({ 'a.yaml': `---\n${connector('a')}---\n${connector('b')}---\n` });
    expect(r.diagnostics).toEqual([]);
    expect(r.resources.map((v) => v.resource.metadata.name)).toEqual(['a', 'b']);
  });

  it('reads Kubernetes List objects item by item', () => {
    const list = `apiVersion: v1\nkind: List\nitems:\n${[connector('a'), connector('b', '{ logLevel: Loud }')].map((d) => '  - ' + d.trim().replace(/\n/g, '\n    ')).join('\n')}\n`;
    const r = validateText({ 'list.yaml': list });
    expect(r.resources.map((v) => v.resource.metadata.name)).toEqual(['a']);
    expect(lines(r)).toEqual(['list.yaml:13:23: Connector/b: spec.logLevel: must be one of Error, Warn, Info, Debug, Trace']);
  });

  it('keeps positions with CRLF line endings and a byte-order mark', () => {
    const text = '\ufeff' + connector('a', '{ hostng: AWS }').replace(/\n/g, '\r\n');
    expect(lines(validateText({ 'crlf.yaml': text }))).toEqual(['crlf.yaml:5:9: Connector/a: spec.hostng: unknown field "hostng"']);
  });

  it('applies defaults', () => {
    const r = validateText({ 'a.yaml': connector('a') });
    expect(r.resources[0]!.resource).toMatchObject({
      metadata: { name: 'a', namespace: 'default' },
      spec: { hosting: 'OnPremises', enabled: true, logLevel: 'Info', suspend: false, managementPolicy: 'Enforce' },
    });
  });

  it('reports a bad document after a good one, and the good one is still checked', () => {
    const r = validateText({ 'a.yaml': `${connector('ok')}---\n${connector('Bad_Name')}---\n${connector('x', '{ enabled: 3 }')}` });
    expect(lines(r)).toEqual([
      "a.yaml:10:9: Connector/Bad_Name: metadata.name: must be a DNS-1123 name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
      'a.yaml:17:18: Connector/x: spec.enabled: expected boolean, got a number',
    ]);
  });

  it('refuses documents that are not resources', () => {
    expect(lines(validateText({ 'a.yaml': '- just\n- a list\n' }))).toEqual(['a.yaml:1:1: expected a resource: a mapping with apiVersion, kind, metadata and spec']);
    expect(lines(validateText({ 'a.yaml': 'kind: Connector\nmetadata: {name: a}\nspec: {}\n' }))).toEqual(['a.yaml:1:1: missing apiVersion']);
    expect(lines(validateText({ 'a.yaml': `${API}\nmetadata: {name: a}\n` }))).toEqual(['a.yaml:1:1: missing kind']);
    expect(lines(validateText({ 'a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n' }))).toEqual(['a.yaml:2:7: unknown kind "ConfigMap"']);
  });
});

describe('hostile input', () => {
  const quick = (files: Record<string, string | Uint8Array>, limits = {}) => {
    const start = performance.now();
    const r = validateText(files, limits);
    return { lines: lines(r), ms: performance.now() - start };
  };

  it('refuses an exponential alias expansion', () => {
    let text = 'a: &a [x, x, x, x, x, x, x, x, x, x]\n';
    for (const [prev, n] of [['a', 'b'], ['b', 'c'], ['c', 'd'], ['d', 'e'], ['e', 'f'], ['f', 'g'], ['g', 'h']]) text += `${n}: &${n} [${Array(10).fill('*' + prev).join(', ')}]\n`;
    expect(quick({ 'bomb.yaml': text }).lines).toEqual(['bomb.yaml:1:1: aliases expand too far (limit 100)']);
  });

  it('refuses deep nesting, flow and block, before composing it', () => {
    expect(quick({ 'flow.yaml': 'a: ' + '['.repeat(200_000) + ']'.repeat(200_000) + '\n' }).lines).toEqual(['flow.yaml:1:68: nesting deeper than 64 levels']);
    expect(quick({ 'block.yaml': '- '.repeat(100_000) + 'x\n' }).lines).toEqual(['block.yaml:1:131: nesting deeper than 64 levels']);
  });

  it('refuses duplicate keys, tabs as indentation and custom tags', () => {
    expect(quick({ 'a.yaml': 'a: 1\nb: 2\na: 3\n' }).lines).toEqual(['a.yaml:3:1: duplicate key "a"']);
    expect(quick({ 'a.yaml': 'a:\n\tb: 1\n' }).lines).toEqual(['a.yaml:2:1: tabs are not allowed as indentation; indent with spaces']);
    expect(quick({ 'a.yaml': 'a: !secret x\n' }).lines).toEqual(['a.yaml:1:4: unknown tag; mdmops reads plain YAML without custom tags']);
    const merge = `${API}\nkind: Connector\nmetadata:\n  name: m\n  annotations: &common { team: pki }\nspec:\n  <<: *common\n`;
    expect(quick({ 'a.yaml': merge }).lines).toEqual(['a.yaml:7:3: Connector/m: spec.<<: YAML merge keys (<<) are not supported']);
  });

  it('refuses binary, non-UTF-8 and UTF-16 files with a position', () => {
    expect(quick({ 'bin.yaml': Buffer.from([0x61, 0x3a, 0x0a, 0x00, 0x01]) }).lines).toEqual(['bin.yaml:2:1: binary file (it contains NUL bytes); expected YAML text']);
    expect(quick({ 'latin1.yaml': Buffer.from('name: caf\xe9\n', 'latin1') }).lines).toEqual(['latin1.yaml:1:10: the file is not valid UTF-8; save it as UTF-8']);
    expect(quick({ 'u16.yaml': Buffer.from('\ufeffa: 1\n', 'utf16le') }).lines).toEqual(['u16.yaml:1:1: the file is UTF-16; save it as UTF-8']);
  });

  it('refuses documents and files above the size limits', () => {
    const big = connector('a', `{ description: "${'x'.repeat(2000)}" }`);
    expect(quick({ 'a.yaml': `${connector('small')}---\n${big}` }, { maxDocumentBytes: 1000 }).lines).toEqual(['a.yaml:6:1: document is 2097 characters, above the limit of 1000']);
    expect(quick({ 'a.yaml': connector('a') }, { maxDocumentsPerFile: 0 }).lines).toEqual(['a.yaml:1:1: more than 0 documents in one file']);
  });

  it('checks a mapping of 90,000 keys for duplicates in linear time', () => {
    const keys = Array.from({ length: 90_000 }, (_, i) => `k${i}: v`);
    expect(quick({ 'a.yaml': [...keys, 'k17: again'].join('\n') }).lines).toEqual(['a.yaml:90001:1: duplicate key "k17"']);
  });

  it('refuses unknown aliases, non-scalar keys and YAML 1.1 (whose merge keys would come back)', () => {
    expect(quick({ 'a.yaml': `${API}\nkind: Connector\nmetadata: {name: a}\nspec: *nope\n` }).lines).toEqual(['a.yaml:4:7: unknown alias *nope; anchors must be defined earlier in the same document']);
    expect(quick({ 'a.yaml': 'a: &x 1\n---\nb: *x\n' }).lines).toEqual(['a.yaml:1:1: missing kind', 'a.yaml:3:4: unknown alias *x; anchors must be defined earlier in the same document']);
    expect(quick({ 'a.yaml': '? [a]\n: 1\n' }).lines).toEqual(['a.yaml:1:3: keys must be plain scalars, not lists, mappings or aliases']);
    expect(quick({ 'a.yaml': `%YAML 1.1\n---\n${API}\nkind: Connector\n` }).lines).toEqual(['a.yaml:2:1: YAML 1.1 is not supported; mdmops reads YAML 1.2 (remove the %YAML directive)']);
  });

  it('keeps the good documents of a file with a broken one, so references to them still resolve', () => {
    const ldap = resource('LdapSource', 'l', 'connectorRef: { name: paris }\nurl: ldaps://x.example.com\nbindDn: cn=a\nbindPasswordSecretRef: { name: l, key: p }\nbaseDn: dc=x');
    const r = validateText({ 'a.yaml': `${connector('paris')}---\nfoo: [\n`, 'b.yaml': ldap });
    expect(lines(r)).toEqual(['a.yaml:8:1: flow sequence in block collection must be sufficiently indented and end with a ]']);
  });

  it('keeps suggestions fast for many unresolved references with long names', () => {
    const long = (i: number) => `${'x'.repeat(200)}-${i}`;
    const docs = Array.from({ length: 300 }, (_, i) => `${connector(long(i))}---\n${resource('LdapSource', `l${i}`, `connectorRef: { name: ${long(i)}-gone }\nurl: ldaps://x.example.com\nbindDn: cn=a\nbindPasswordSecretRef: { name: l, key: p }\nbaseDn: dc=x`)}`);
    const r = validateText({ 'a.yaml': docs.join('---\n') });
    expect(r.diagnostics).toHaveLength(300);
    expect(r.diagnostics.every((d) => d.code === 'reference')).toBe(true);
  });

  it('accepts non-ASCII text and reports columns in characters', () => {
    const r = validateText({ 'a.yaml': resource('Space', 'emea', 'displayName: Région Île-de-France\npriority: 1\nmembers: { groups: [équipe] }\nadmins: { users: [zoé@contoso.com] }\nfoo: 1') });
    expect(lines(r)).toEqual(['a.yaml:10:3: Space/emea: spec.foo: unknown field "foo"']);
  });
});

describe('the input as a whole', () => {
  const ws = workspace();
  const space = (i: number, pad = 0) => resource('Space', `s${i}`, `displayName: Space ${i} ${'x'.repeat(pad)}\npriority: ${i + 1}\nmembers: { groups: [g] }\nadmins: { groups: [a] }`);

  it('is capped in bytes: files each under the per-file limit, over 16 MiB together, are refused quickly (mdmops validate)', () => {
    // Five files of 3.5 MiB: each is under the 4 MiB limit, together they are not.
    for (let f = 0; f < 5; f++) ws.write(`big/f${f}.yaml`, Array.from({ length: 1200 }, (_, i) => space(f * 1200 + i, 3000)).join('---\n'));
    const r = ws.run(['validate', '-f', 'big']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/big\/f4\.yaml: the configuration is above the limit of 16777216 bytes in all \(\d+ read before this file of \d+\): nothing further is read; split it into several configurations \(--source\)/);
  });

  it('is capped in resources', () => {
    const text = Array.from({ length: 12 }, (_, i) => space(i)).join('---\n');
    const out = lines(validateText({ 'a.yaml': text, 'b.yaml': text.replace(/name: s/g, 'name: t') }, { maxTotalResources: 10 }));
    expect(out).toContain('a.yaml: the configuration holds more than 10 resources: nothing further is read; split it into several configurations (--source)');
  });
});
