// mdmops certificates [CONFIGURATION] [--export USER --out FILE]: the identity certificates issued to
// users, and one of them (with its key and chain) as a PKCS#12 file for a user or a test device.
import { readFileSync, writeFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { providerContext } from '../engine/context.js';
import { writePkcs12 } from '../pki/pkcs12.js';
import { certificateBundle } from '../providers/certificate-configuration/index.js';
import { UserError } from './errors.js';
import { actor, openSession, storeOptions, type StoreOptions, type Session } from './session.js';
import { table } from './table.js';
import { formatOf, oldFormatOption, warnDeprecated } from './flags.js';
import { stringify } from 'yaml';
import { messageOf } from '../util/message-of.js';

interface Options extends StoreOptions {
  namespace: string;
  output: string;
  out?: string;
  export?: string;
  passwordFile?: string;
  format?: string;
}

const FORMATS = ['text', 'json', 'yaml'];

export function registerCertificates(program: Command) {
  storeOptions(program.command('certificates').description('Identity certificates issued to users; --export writes one as PKCS#12.'))
    .argument('[configuration]', 'only this CertificateConfiguration')
    .option('-n, --namespace <tenant>', 'tenant', 'default')
    .option('--export <user>', 'write the certificate of this user (UPN, e-mail or id) with its key and chain; needs a configuration')
    .option('--out <file>', 'with --export: the .p12 file to write')
    .option('--password-file <file>', 'with --export: file holding the PKCS#12 password (or set MDMOPS_EXPORT_PASSWORD)')
    .addOption(new Option('-o, --output <format>', `listing format: ${FORMATS.join(', ')}`).default('text'))
    .addOption(oldFormatOption())
    .action(async (configuration: string | undefined, opts: Options) => {
      // -o FILE was the .p12 file before -o meant a format everywhere.
      if (opts.export && !opts.out && opts.output !== 'text') {
        warnDeprecated('-o FILE with --export', '--out FILE');
        opts.out = opts.output;
      } else if (!opts.export) {
        opts.output = formatOf({ ...opts, output: opts.output === 'table' ? 'text' : opts.output }, FORMATS, { table: 'text' });
        if (!FORMATS.includes(opts.output)) throw new UserError(`-o ${opts.output}: expected ${FORMATS.join(', ')} (the .p12 file of --export is --out FILE)`);
      }
      const session = await openSession(opts, { readOnly: true });
      try {
        if (configuration && !(await session.store.getRecord({ tenant: opts.namespace, kind: 'CertificateConfiguration', name: configuration }))) {
          throw new UserError(`CertificateConfiguration/${configuration} is not in tenant ${opts.namespace} of the store at ${session.store.location}`);
        }
        if (opts.export) await exportOne(session, configuration, opts);
        else await list(session, configuration, opts);
      } finally {
        await session.close();
      }
    });
}

function readPassword(file: string): string {
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new UserError(`cannot read the password file ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : messageOf(e)}`);
  }
}

async function list(session: Session, configuration: string | undefined, opts: Options) {
  const [certs, users] = await Promise.all([session.store.listCertificates({ tenant: opts.namespace, configuration }), session.store.listUsers(opts.namespace)]);
  const upn = new Map(users.map((u) => [u.id, u.upn]));
  const rows = certs.map(({ certificate: _c, sealedKey: _k, ...c }) => ({ ...c, user: upn.get(c.userId) ?? c.userId }));
  if (opts.output === 'json' || opts.output === 'yaml') {
    process.stdout.write(opts.output === 'json' ? JSON.stringify(rows, null, 2) + '\n' : stringify(rows));
    return;
  }
  if (!rows.length) {
    process.stdout.write(`No identity certificates${configuration ? ` for CertificateConfiguration/${configuration}` : ''} in tenant ${opts.namespace}.\n`);
    return;
  }
  process.stdout.write(table(['CONFIGURATION', 'USER', 'SUBJECT', 'NOT AFTER', 'SHA-256'], rows.map((r) => [r.configuration, r.user, r.subject, r.notAfter.slice(0, 10), r.fingerprintSha256.slice(0, 16)])));
}

async function exportOne(session: Session, configuration: string | undefined, opts: Options) {
  if (!configuration) throw new UserError('--export needs the CertificateConfiguration: mdmops certificates CONFIGURATION --export USER --out FILE');
  if (!opts.out) throw new UserError('--export needs --out FILE, the .p12 file to write');
  const out = opts.out;
  const password = opts.passwordFile ? readPassword(opts.passwordFile) : process.env.MDMOPS_EXPORT_PASSWORD;
  if (!password) throw new UserError('give the PKCS#12 password with --password-file FILE or in MDMOPS_EXPORT_PASSWORD (never on the command line)');

  const tenant = opts.namespace;
  // By id, else UPN, else e-mail: one user's e-mail may be another's UPN.
  const users = await session.store.listUsers(tenant);
  const user = users.find((u) => u.id === opts.export) ?? users.find((u) => u.upn === opts.export) ?? users.find((u) => u.email === opts.export);
  const userId = user?.id ?? opts.export!;
  const cert = (await session.store.listCertificates({ tenant, configuration })).find((c) => c.userId === userId);
  if (!cert) throw new UserError(`no certificate of CertificateConfiguration/${configuration} for user "${opts.export}" in tenant ${tenant} (mdmops certificates ${configuration} lists them)`);
  const id = { tenant, kind: 'CertificateConfiguration', name: configuration };
  const { key, chain } = await certificateBundle(providerContext(session), id, cert);
  if (!key) throw new UserError(`the key of this certificate never left the device it was issued to: nothing to export`);
  const p12 = writePkcs12({ key, certificates: [cert.certificate, ...chain], password, friendlyName: user?.upn ?? userId });
  try {
    writeFileSync(out, p12, { mode: 0o600, flag: 'wx' }); // never over an existing file
  } catch (e) {
    throw new UserError(`cannot write ${out}: ${(e as NodeJS.ErrnoException).code === 'EEXIST' ? 'it exists: choose another file or remove it' : messageOf(e)}`);
  }
  // A private key left the store: that is worth an audit entry.
  await session.store.commit([
    { op: 'audit', entry: { at: new Date().toISOString(), ...id, action: 'export-key', source: 'cli', revision: '-', actor: actor(), detail: { user: user?.upn ?? userId, serial: cert.serial } } },
  ]);
  process.stdout.write(`Wrote ${out}: ${cert.subject}, valid until ${cert.notAfter}, with its key and ${chain.length} CA certificate${chain.length === 1 ? '' : 's'}.\n`);
}
