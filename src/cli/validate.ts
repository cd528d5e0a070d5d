// mdmops validate -f PATH...
import type { Command } from 'commander';
import { formatDiagnostic } from '../config/diagnostics.js';
import { validatePaths } from '../config/validate.js';
import { displayName } from '../api/index.js';
import { formatOption } from './flags.js';

export function registerValidate(program: Command) {
  program
    .command('validate')
    .description('Check a configuration: schema, references, tenant rules and referenced files. Exit 0 when valid, 1 when not.')
    .requiredOption('-f, --filename <path...>', 'files or directories (walked for *.yaml and *.yml); - reads standard input')
    .addOption(formatOption(['text', 'json']))
    .addHelpText('after', '\nExamples:\n  mdmops validate -f examples/tenant\n  mdmops validate -f ca.yaml -f connectors/ -o json')
    .action((opts: { filename: string[]; output: string }) => {
      const result = validatePaths(opts.filename);
      const ok = result.diagnostics.length === 0;
      if (opts.output === 'json') {
        const out = {
          valid: ok,
          files: result.files,
          resources: result.resources.map((v) => ({
            kind: v.resource.kind,
            namespace: v.resource.metadata.namespace,
            name: v.resource.metadata.name,
            file: v.source.file,
            line: v.source.line,
          })),
          errors: result.diagnostics,
        };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else if (ok) {
        const tenants = new Set(result.resources.map((v) => v.resource.metadata.namespace)).size;
        process.stdout.write(`valid: ${count(result.resources.length, 'resource')} in ${count(result.files, 'file')}, ${count(tenants, 'tenant')}\n`);
        for (const v of result.resources) process.stdout.write(`  ${displayName(v.resource.kind, v.resource.metadata.name, v.resource.metadata.namespace)}\n`);
      } else {
        for (const d of result.diagnostics) process.stdout.write(formatDiagnostic(d) + '\n');
        const files = new Set(result.diagnostics.map((d) => d.file)).size;
        process.stdout.write(`\ninvalid: ${count(result.diagnostics.length, 'error')} in ${count(files, 'file')}\n`);
      }
      process.exitCode = ok ? 0 : 1;
    });
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
