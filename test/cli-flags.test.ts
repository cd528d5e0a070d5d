// Flags mean one thing everywhere: -o is a format, paths are --output-dir and --out, kinds in any case.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { workspace } from './support/workspace.js';

describe('flags, on the example tenant', () => {
  const ws = workspace(true);

  it('applies the example', () => {
    const r = ws.run(['apply', '-f', 'config', '--auto-approve']);
    expect(r.code, r.stderr).toBe(0);
  });

  it('status KIND lists that kind, in any case, plural or short name', () => {
    for (const kind of ['Connector', 'connector', 'CONNECTORS', 'conn']) {
      const r = ws.run(['status', kind, '-o', 'json']);
      expect(r.code, r.stderr).toBe(0);
      const items = JSON.parse(r.stdout).items as { kind: string }[];
      expect(items.length).toBe(2);
      expect(new Set(items.map((i) => i.kind))).toEqual(new Set(['Connector']));
    }
    const table = ws.run(['status', 'ca']).stdout;
    expect(table).toContain('CertificateAuthority/');
    expect(table).not.toContain('Connector/');
    expect(ws.run(['status', 'connector/paris-dc', '-o', 'json']).stdout).toContain('"name": "paris-dc"');
    const typo = ws.run(['status', 'Conector']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('"Conector" is not a kind; did you mean Connector?');
  });

  it('schema takes a kind in any case', () => {
    for (const kind of ['connector', 'CONNECTOR', 'connectors']) {
      const r = ws.run(['schema', kind]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).title).toBe('Connector');
    }
    expect(ws.run(['schema', 'certificateauthority', '--crd']).stdout).toContain('kind: CustomResourceDefinition');
  });

  it('-o is an output format everywhere, and an unknown one is refused', () => {
    for (const cmd of [['users'], ['invitations'], ['certificates'], ['notifications'], ['audit']]) {
      const json = ws.run([...cmd, '-o', 'json']);
      expect(json.code, `${cmd}: ${json.stderr}`).toBe(0);
      expect(Array.isArray(JSON.parse(json.stdout))).toBe(true);
      const yaml = ws.run([...cmd, '-o', 'yaml']);
      expect(yaml.code, `${cmd}: ${yaml.stderr}`).toBe(0);
      expect(parse(yaml.stdout)).toEqual(JSON.parse(json.stdout));
      const bad = ws.run([...cmd, '-o', 'xml']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain('expected text, json, yaml');
    }
    expect(parse(ws.run(['status', '-o', 'yaml']).stdout).items.length).toBe(15);
    expect(ws.run(['validate', '-f', 'config', '-o', 'yaml']).code).toBe(1);
  });

  it('the old --format still works, with a warning on standard error only', () => {
    const r = ws.run(['users', '--format', 'json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
    expect(r.stderr).toContain('--format is deprecated');
    expect(r.stderr).toContain('use -o');
  });

  it('certificates NAME exits 1 when no such configuration exists', () => {
    const r = ws.run(['certificates', 'no-such-config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CertificateConfiguration/no-such-config is not in tenant default');
    expect(ws.run(['certificates', 'corporate-root', '-o', 'json']).code).toBe(0);
  });

  it('export -o yaml writes the export to standard output, which plans as no change', () => {
    const r = ws.run(['export', '-o', 'yaml']);
    expect(r.code, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    expect(docs.length).toBe(15);
    // Files travel inline.
    expect(JSON.stringify(docs)).toContain('BEGIN CERTIFICATE');
    ws.write('stdout-export/all.yaml', r.stdout);
    const plan = ws.run(['plan', '-f', 'stdout-export', '--detailed-exitcode']);
    expect(plan.stdout).toContain('No changes: 15 resources up to date.');
    expect(plan.code).toBe(0);
  });

  it('export takes --output-dir, and the old -o DIR for one release with a warning', () => {
    const dir = ws.run(['export', '--output-dir', 'by-flag']);
    expect(dir.code, dir.stderr).toBe(0);
    expect(dir.stderr).toBe('');
    const old = ws.run(['export', '-o', 'by-old-flag']);
    expect(old.code, old.stderr).toBe(0);
    expect(old.stderr).toContain('-o DIR is deprecated');
    expect(old.stderr).toContain('--output-dir DIR');
    expect(readdirSync(join(ws.dir, 'by-old-flag/default')).sort()).toEqual(readdirSync(join(ws.dir, 'by-flag/default')).sort());
    const json = ws.run(['export', '-o', 'json']);
    expect(json.code).toBe(1);
    expect(json.stderr).toContain('export writes yaml (-o yaml), or files with --output-dir DIR');
    const none = ws.run(['export']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('--output-dir DIR, or -o yaml');
  });
});
