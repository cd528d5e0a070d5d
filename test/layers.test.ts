// The import rules of the design's layers (DESIGN.md section 2), checked on src/'s import graph:
// imports point down only, the engine names no kind, integration libraries know no store or provider,
// nothing but the CLI imports server/.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KINDS } from '../src/api/index.js';
import { defaultProviders } from '../src/providers/index.js';
import { ROOT } from './support/cli.js';

const SRC = join(ROOT, 'src');
const INTEGRATION = ['net', 'pki', 'identity', 'sql'];
const BELOW_PROVIDERS = ['api', 'util', 'observe', 'config', 'engine', 'store', ...INTEGRATION];

/** What each top folder of src/ may import besides itself. */
const ALLOWED: Record<string, string[]> = {
  api: [],
  util: [],
  observe: ['util'],
  ...Object.fromEntries(INTEGRATION.map((layer) => [layer, ['api', 'util', 'observe', ...INTEGRATION]])),
  store: ['api', 'util', 'observe'],
  config: ['api', 'util', 'observe', 'store', ...INTEGRATION],
  engine: ['api', 'util', 'observe', 'config', 'store', ...INTEGRATION],
  providers: BELOW_PROVIDERS,
  connector: [...BELOW_PROVIDERS, 'providers'],
  kube: [...BELOW_PROVIDERS, 'providers'],
  gitops: [...BELOW_PROVIDERS, 'providers'],
  server: [...BELOW_PROVIDERS, 'providers'],
  cli: [...BELOW_PROVIDERS, 'providers', 'connector', 'kube', 'gitops', 'server'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** Each file of src/ (relative), with the files of src/ it imports. */
const graph = sources(SRC).map((file) => {
  const text = readFileSync(file, 'utf8');
  const imports = [...text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => relative(SRC, normalize(join(dirname(file), m[1]!))).replace(/\.js$/, '.ts'));
  return { file: relative(SRC, file), text, imports };
});
const layerOf = (path: string) => path.split('/')[0]!;

describe('the layers', () => {
  it('reads the import graph', () => {
    expect(graph.length).toBeGreaterThan(100);
    expect(graph.find((g) => g.file === 'cli/main.ts')?.imports).toContain('cli/plan.ts');
  });

  it('every top folder of src/ has its rule', () => {
    expect([...new Set(graph.map((g) => layerOf(g.file)))].filter((layer) => !ALLOWED[layer])).toEqual([]);
  });

  it('imports point down only', () => {
    const wrong = graph.flatMap(({ file, imports }) =>
      imports.filter((to) => layerOf(to) !== layerOf(file) && !ALLOWED[layerOf(file)]!.includes(layerOf(to))).map((to) => `${file} -> ${to}`),
    );
    expect(wrong).toEqual([]);
  });

  it('the engine imports no kind and names none', () => {
    const kinds = KINDS.map((k) => k.kind);
    const engine = graph.filter((g) => layerOf(g.file) === 'engine');
    expect(engine.flatMap(({ file, imports }) => imports.filter((to) => to.startsWith('api/kinds/')).map((to) => `${file} -> ${to}`))).toEqual([]);
    expect(engine.flatMap(({ file, text }) => kinds.filter((k) => text.includes(`'${k}'`)).map((k) => `${file} names ${k}`))).toEqual([]);
  });

  it('the CLI uses a provider only through its folder\'s public entry', () => {
    const wrong = graph
      .filter((g) => layerOf(g.file) === 'cli')
      .flatMap(({ file, imports }) => imports.filter((to) => layerOf(to) === 'providers' && !/^providers\/([^/]+\/)?index\.ts$/.test(to)).map((to) => `${file} -> ${to}`));
    expect(wrong).toEqual([]);
  });

  it('every kind has one provider, in one folder, registered once', () => {
    expect(defaultProviders().kinds).toEqual(KINDS.map((k) => k.kind));
    const folders = readdirSync(join(SRC, 'providers'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.sort()).toEqual(KINDS.map((k) => k.kind.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase()).sort());
  });
});
