// mdmops export -o DIR: the tenant's configuration as YAML that validates and re-applies unchanged.
import type { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { API_VERSION, KINDS } from '../api/index.js';
import { blobAad } from '../engine/context.js';
import { mapFileRefs } from '../engine/desired.js';
import type { StoredRecord } from '../store/types.js';
import { UserError } from './errors.js';
import { openSession, storeOptions, type StoreOptions, type Session } from './session.js';

export function registerExport(program: Command) {
  storeOptions(program.command('export').description("Write the tenant's configuration as YAML files (one folder per tenant, one file per kind), with the files it references."))
    .requiredOption('-o, --output <dir>', 'folder to write; must be empty or absent unless --force')
    .option('-n, --namespace <tenant>', 'only this tenant')
    .option('--force', "write into a folder that already has files: each exported tenant's folder is replaced whole")
    .addHelpText('after', '\nExample:\n  mdmops export -o backup/ && mdmops plan -f backup/   # no changes')
    .action(async (opts: StoreOptions & { output: string; namespace?: string; force?: boolean }) => {
      if (existsSync(opts.output) && !statSync(opts.output).isDirectory()) throw new UserError(`${opts.output} is not a folder`);
      if (existsSync(opts.output) && readdirSync(opts.output).length && !opts.force) {
        throw new UserError(`${opts.output} is not empty: choose another folder, or add --force`);
      }
      const session = await openSession(opts, { readOnly: true });
      try {
        const records = (await session.store.listRecords(opts.namespace ? { tenant: opts.namespace } : {})).filter((r) => r.managed);
        if (!records.length) throw new UserError(`nothing to export: the tenant store at ${session.store.location} holds no managed resources${opts.namespace ? ` in tenant ${opts.namespace}` : ''}`);
        const written = await exportRecords(session, records, opts.output);
        process.stdout.write(`exported ${records.length} resource${records.length === 1 ? '' : 's'} to ${written} file${written === 1 ? '' : 's'} in ${opts.output}\n`);
      } finally {
        await session.close();
      }
    });
}

async function exportRecords(session: Session, records: StoredRecord[], dir: string): Promise<number> {
  let files = 0;
  const write = (path: string, data: string | Buffer) => {
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, data, { mode: 0o600 });
    files++;
  };
  for (const tenant of [...new Set(records.map((r) => r.tenant))]) {
    const tenantDir = join(dir, tenant);
    // Whatever an earlier export left here (a resource since removed) must not come back.
    rmSync(tenantDir, { recursive: true, force: true });
    for (const def of KINDS) {
      const ofKind = records.filter((r) => r.tenant === tenant && r.kind === def.kind);
      if (!ofKind.length) continue;
      const docs: string[] = [];
      for (const r of ofKind) {
        const pending: [string, string][] = [];
        const spec = mapFileRefs(r.spec, (path) => {
          const name = join('files', def.plural, r.name, r.files[path]?.name ?? path);
          pending.push([path, name]);
          return { file: name };
        });
        for (const [path, name] of pending) {
          const sealed = await session.store.getBlob(r, `file:${path}`);
          if (!sealed) throw new UserError(`${r.kind}/${r.name}: the content of ${path} is missing from the tenant store`);
          write(join(tenantDir, name), session.key.open(sealed, blobAad(r, `file:${path}`)));
        }
        const metadata = { name: r.name, ...(tenant === 'default' ? {} : { namespace: tenant }), ...r.metadata };
        docs.push(stringify({ apiVersion: API_VERSION, kind: r.kind, metadata, spec }));
      }
      write(join(tenantDir, `${def.plural}.yaml`), `# Exported by mdmops from the tenant store.\n${docs.join('---\n')}`);
    }
  }
  return files;
}
