// mdmops export --output-dir DIR (or -o yaml): the tenant's configuration as YAML that validates and re-applies unchanged.
import type { Command } from 'commander';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { API_VERSION, KINDS } from '../api/index.js';
import { blobAad } from '../engine/context.js';
import { mapFileRefs } from '../config/desired.js';
import type { StoredRecord } from '../store/types.js';
import { UserError } from './errors.js';
import { FORMAT_NAMES, warnDeprecated } from './flags.js';
import { openSession, storeOptions, type StoreOptions, type Session } from './session.js';

export function registerExport(program: Command) {
  storeOptions(program.command('export').description("Write the tenant's configuration as YAML files (one folder per tenant, one file per kind), with the files it references."))
    .option('--output-dir <dir>', 'folder to write; must be empty or absent unless --force')
    .option('-o, --output <format>', 'yaml: write the export to standard output, files inline')
    .option('-n, --namespace <tenant>', 'only this tenant')
    .option('--force', "write into a folder that already has files: each exported tenant's folder is replaced whole")
    .addHelpText('after', '\nExamples:\n  mdmops export --output-dir backup/ && mdmops plan -f backup/   # no changes\n  mdmops export -o yaml -n paris > paris.yaml')
    .action(async (opts: StoreOptions & { output?: string; outputDir?: string; namespace?: string; force?: boolean }) => {
      let dir = opts.outputDir;
      if (opts.output !== undefined && opts.output !== 'yaml') {
        if (FORMAT_NAMES.includes(opts.output)) throw new UserError(`-o ${opts.output}: export writes yaml (-o yaml), or files with --output-dir DIR`);
        // -o DIR was the folder before -o meant a format everywhere.
        warnDeprecated('-o DIR', '--output-dir DIR');
        dir ??= opts.output;
      }
      if (!dir && opts.output !== 'yaml') throw new UserError('say where the export goes: --output-dir DIR, or -o yaml for standard output');
      if (dir && existsSync(dir) && !statSync(dir).isDirectory()) throw new UserError(`${dir} is not a folder`);
      if (dir && existsSync(dir) && readdirSync(dir).length && !opts.force) {
        throw new UserError(`${dir} is not empty: choose another folder, or add --force`);
      }
      const session = await openSession(opts, { readOnly: true });
      try {
        const records = (await session.store.listRecords(opts.namespace ? { tenant: opts.namespace } : {})).filter((r) => r.managed);
        if (!records.length) throw new UserError(`nothing to export: the tenant store at ${session.store.location} holds no managed resources${opts.namespace ? ` in tenant ${opts.namespace}` : ''}`);
        if (!dir) {
          process.stdout.write(await exportText(session, records));
          return;
        }
        const written = await exportRecords(session, records, dir);
        process.stdout.write(`exported ${records.length} resource${records.length === 1 ? '' : 's'} to ${written} file${written === 1 ? '' : 's'} in ${dir}\n`);
      } finally {
        await session.close();
      }
    });
}

/** One YAML stream of every record, the files they reference inline (text only: a binary file needs --output-dir). */
async function exportText(session: Session, records: StoredRecord[]): Promise<string> {
  const docs: string[] = [];
  for (const def of KINDS) {
    for (const r of records.filter((x) => x.kind === def.kind)) {
      const contents = new Map<string, string>();
      const paths: string[] = [];
      mapFileRefs(r.spec, (path) => paths.push(path));
      for (const path of paths) {
        const bytes = await fileOf(session, r, path);
        const text = bytes.toString('utf8');
        if (text.includes('\0') || !Buffer.from(text, 'utf8').equals(bytes)) {
          throw new UserError(`${r.kind}/${r.name} in tenant ${r.tenant} holds a binary file (${path}), which YAML cannot carry inline: export with --output-dir DIR`);
        }
        contents.set(path, text);
      }
      const spec = mapFileRefs(r.spec, (path) => ({ data: contents.get(path) }));
      docs.push(stringify({ apiVersion: API_VERSION, kind: r.kind, metadata: metadataOf(r), spec }));
    }
  }
  return `# Exported by mdmops from the tenant store.\n${docs.join('---\n')}`;
}

async function fileOf(session: Session, r: StoredRecord, path: string): Promise<Buffer> {
  const sealed = await session.store.getBlob(r, `file:${path}`);
  if (!sealed) throw new UserError(`${r.kind}/${r.name}: the content of ${path} is missing from the tenant store`);
  return session.key.open(sealed, blobAad(r, `file:${path}`));
}

const metadataOf = (r: StoredRecord) => ({ name: r.name, ...(r.tenant === 'default' ? {} : { namespace: r.tenant }), ...r.metadata });

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
        for (const [path, name] of pending) write(join(tenantDir, name), await fileOf(session, r, path));
        docs.push(stringify({ apiVersion: API_VERSION, kind: r.kind, metadata: metadataOf(r), spec }));
      }
      write(join(tenantDir, `${def.plural}.yaml`), `# Exported by mdmops from the tenant store.\n${docs.join('---\n')}`);
    }
  }
  return files;
}
