// Pure functions of the resource model.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFullyQualified, OID_PATTERN, parseDuration, templateProblems } from '../src/api/index.js';
import { closest } from '../src/config/suggest.js';
import { readCertificates, x509Version } from '../src/pki/x509.js';

describe('api', () => {
  it('parses durations', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('1 hour')).toThrow();
  });

  it('tells fully qualified names', () => {
    expect(isFullyQualified('core2.example.com')).toBe(true);
    expect(isFullyQualified('core2.example.com.')).toBe(true);
    expect(isFullyQualified('core2')).toBe(false);
    expect(isFullyQualified('10.0.0.1')).toBe(false);
    expect(isFullyQualified('-bad.example.com')).toBe(false);
  });

  it('tells dotted OIDs', () => {
    for (const ok of ['1.3.6.1.4.1.311.20.2.2', '2.5.29.37', '0.9.2342']) expect(OID_PATTERN.test(ok)).toBe(true);
    for (const bad of ['1.3.06.1', '3.1.2', '1.40.1', '1..2', '1.3.', 'abc']) expect(OID_PATTERN.test(bad)).toBe(false);
  });

  it('finds unknown and unterminated variables', () => {
    expect(templateProblems('CN=${userUPN},OU=${dept}', ['userUPN'])).toEqual(['unknown variable ${dept}']);
    expect(templateProblems('CN=${userUPN', ['userUPN'])).toEqual(['unterminated variable "${userUPN"']);
    expect(templateProblems('CN=plain', [])).toEqual([]);
  });

  it('suggests close names only', () => {
    expect(closest('logLevl', ['logLevel', 'hosting'])).toBe('logLevel');
    expect(closest('LOGLEVEL', ['logLevel'])).toBe('logLevel');
    expect(closest('zzz', ['logLevel', 'hosting'])).toBeUndefined();
  });
});

describe('x509', () => {
  it('reads the version that openssl wrote', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdmops-'));
    const key = join(dir, 'k.pem');
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=t', '-keyout', key, '-out', join(dir, 'r.csr')], { stdio: 'ignore' });
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'r.csr'), '-signkey', key, '-out', join(dir, 'v1.pem')], { stdio: 'ignore' });
    writeFileSync(join(dir, 'ext.cnf'), 'basicConstraints=CA:TRUE\n');
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'r.csr'), '-signkey', key, '-extfile', join(dir, 'ext.cnf'), '-out', join(dir, 'v3.pem')], { stdio: 'ignore' });
    const [v1] = readCertificates(readFileSync(join(dir, 'v1.pem')));
    const [v3] = readCertificates(readFileSync(join(dir, 'v3.pem')));
    expect(v1!.version).toBe(1);
    expect(v3!.version).toBe(3);
    expect(v3!.isCA).toBe(true);
    expect(x509Version(v3!.der)).toBe(3);
    const der = execFileSync('openssl', ['x509', '-in', join(dir, 'v3.pem'), '-outform', 'DER']);
    expect(readCertificates(der)[0]!.fingerprintSha256).toBe(v3!.fingerprintSha256);
  });
});
