// mdmops schema: print or write the JSON Schemas and CRDs, or check that the committed ones are current.
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { KINDS, editorSchema } from '../api/index.js';
import { kindArg } from './resource-arg.js';
import { crdFor } from '../kube/crd.js';
import { UserError } from './errors.js';
import { generatedFiles } from './generated.js';
import { messageOf } from '../util/message-of.js';

export function registerSchema(program: Command) {
  program
    .command('schema')
    .description('Print the JSON Schema or CRD of a kind, list the kinds, or write and check the generated files.')
    .argument('[kind]', 'a kind, e.g. Connector')
    .option('--crd', 'print the CustomResourceDefinition (YAML) instead of the JSON Schema')
    .option('--write <dir>', 'write schemas/ and charts/mdmops/crds/ under dir')
    .option('--check <dir>', 'exit 1 when the files under dir differ from what would be generated')
    .addHelpText('after', '\nExamples:\n  mdmops schema                      list the kinds\n  mdmops schema Connector            JSON Schema of Connector\n  mdmops schema Connector --crd      its CRD\n  mdmops schema --write .            regenerate the committed files')
    .action((kind: string | undefined, opts: { crd?: boolean; write?: string; check?: string }) => {
      if (opts.write !== undefined) return write(opts.write);
      if (opts.check !== undefined) return check(opts.check);
      if (!kind) {
        for (const k of KINDS) process.stdout.write(`${k.kind.padEnd(26)}${k.shortNames.join(',').padEnd(10)}${k.description}\n`);
        return;
      }
      const def = kindArg(kind);
      process.stdout.write(opts.crd ? stringify(crdFor(def), { lineWidth: 0 }) : JSON.stringify(editorSchema(def), null, 2) + '\n');
    });
}

function write(dir: string) {
  const files = generatedFiles();
  for (const [rel, content] of files) {
    const path = join(dir, rel);
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    } catch (e) {
      throw new UserError(`cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? messageOf(e)}`);
    }
  }
  for (const stale of strays(dir, files)) process.stderr.write(`note: ${stale} is not generated any more; remove it\n`);
  process.stdout.write(`wrote ${files.size} files under ${dir}\n`);
}

function check(dir: string) {
  const files = generatedFiles();
  const problems: string[] = [];
  for (const [rel, content] of files) {
    const path = join(dir, rel);
    if (!existsSync(path)) problems.push(`${rel}: missing`);
    else if (readFileSync(path, 'utf8') !== content) problems.push(`${rel}: stale`);
  }
  problems.push(...strays(dir, files).map((s) => `${s}: no longer generated`));
  if (problems.length) {
    throw new UserError(`generated files are out of date:\n  ${problems.join('\n  ')}\nrun: npm run generate`);
  }
  process.stdout.write(`generated files are current (${files.size} files)\n`);
}

/** Files in the generated folders that nothing generates any more. */
function strays(dir: string, files: Map<string, string>): string[] {
  return ['schemas', 'charts/mdmops/crds'].flatMap((folder) => {
    const full = join(dir, folder);
    if (!existsSync(full)) return [];
    return readdirSync(full).map((f) => `${folder}/${f}`).filter((rel) => !files.has(rel));
  });
}
