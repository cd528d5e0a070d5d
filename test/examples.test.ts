// The shipped examples through the CLI: the tenant is valid; each invalid file fails exactly as its
// "# expect:" lines say, naming file, line and column, without a stack trace.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { clean, mdmops } from './support/cli.js';

describe('examples/tenant', () => {
  it('validates clean and uses every kind', () => {
    const run = mdmops(['validate', '-f', 'examples/tenant', '-o', 'json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result.valid).toBe(true);
    expect(result.errors).toEqual([]);
    const kinds = new Set(result.resources.map((r: { kind: string }) => r.kind));
    const all = mdmops(['schema']).stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    expect([...kinds].sort()).toEqual(all.sort());
  });

  it('keeps every secret as a reference', () => {
    const text = readdirSync('examples/tenant', { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => readFileSync(`examples/tenant/${f}`, 'utf8'))
      .join('\n');
    expect(text).not.toMatch(/^\s*(password|clientSecret|challenge|secret|token)\s*:/im);
    expect(text.match(/SecretRef:/g)!.length).toBeGreaterThanOrEqual(6);
  });
});

describe('examples/invalid', () => {
  const files = readdirSync('examples/invalid').filter((f) => f.endsWith('.yaml'));

  it('has one file per rule', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  for (const name of files) {
    it(name, () => {
      const file = `examples/invalid/${name}`;
      const expected = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('# expect: ')).map((l) => `${file}:${l.slice(10)}`);
      expect(expected.length).toBeGreaterThan(0);
      const run = mdmops(['validate', '-f', file]);
      expect(run.code).toBe(1);
      expect(clean(run)).toBe(true);
      const reported = run.stdout.split('\n').filter((l) => l.startsWith(`${file}:`));
      expect(reported).toEqual(expected);
    });
  }
});
