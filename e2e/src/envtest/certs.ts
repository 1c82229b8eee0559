import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { run } from '../util/exec.js';

/** Files (and the PEMs clients need) of the small CA set up for one control plane. */
export interface Certificates {
  dir: string;
  caCertFile: string;
  caKeyFile: string;
  caPem: string;
  /** kube-apiserver serving certificate: CN kube-apiserver, SANs localhost, 127.0.0.1, ::1. */
  servingCertFile: string;
  servingKeyFile: string;
  /** Admin client certificate: CN default, O system:masters. */
  clientCertFile: string;
  clientKeyFile: string;
  clientCertPem: string;
  clientKeyPem: string;
  /** Service-account token signing key pair (RSA). */
  serviceAccountKeyFile: string;
  serviceAccountPubFile: string;
}

export interface CertificateOptions {
  /** Extra serving-certificate SANs ("DNS:name" or "IP:addr"). */
  extraSans?: string[];
  validDays?: number;
}

const OPENSSL_TIMEOUT_MS = 15_000;

function openssl(args: string[], cwd: string): Promise<unknown> {
  return run('openssl', args, { timeoutMs: OPENSSL_TIMEOUT_MS, cwd });
}

function serial(): string {
  // Positive 120-bit serial; random so several CAs in one run never collide in a client cache.
  return `0x${randomBytes(15).toString('hex')}`;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** A self-contained openssl config so the host's openssl.cnf does not matter. */
function opensslConfig(sans: string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'x509_extensions = ca_ext',
    '[dn]',
    '[ca_ext]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign, digitalSignature',
    'subjectKeyIdentifier = hash',
    '[serving_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth',
    'authorityKeyIdentifier = keyid',
    `subjectAltName = ${sans.join(', ')}`,
    '[client_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = clientAuth',
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

async function issueLeaf(
  dir: string,
  name: string,
  subject: string,
  extSection: 'serving_ext' | 'client_ext',
  days: number,
): Promise<void> {
  await openssl(
    ['req', '-new', ...EC_KEY, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject, '-config', 'openssl.cnf'],
    dir,
  );
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      serial(),
      '-days',
      String(days),
      '-sha256',
      '-extfile',
      'openssl.cnf',
      '-extensions',
      extSection,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
}

/**
 * Creates, with the openssl CLI, a CA, the kube-apiserver serving certificate, the admin client
 * certificate and the service-account key pair in `dir` (created 0700; keys are 0600).
 */
export async function createCertificates(dir: string, opts: CertificateOptions = {}): Promise<Certificates> {
  const days = opts.validDays ?? 365;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const sans = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...(opts.extraSans ?? [])];
  await writeFile(path.join(dir, 'openssl.cnf'), opensslConfig(sans), { mode: 0o600 });

  await openssl(
    [
      'req',
      '-x509',
      ...EC_KEY,
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
      '-days',
      String(days),
      '-sha256',
      '-subj',
      '/CN=jarvis-envtest-ca',
      '-set_serial',
      serial(),
      '-config',
      'openssl.cnf',
    ],
    dir,
  );
  await Promise.all([
    issueLeaf(dir, 'serving', '/CN=kube-apiserver', 'serving_ext', days),
    issueLeaf(dir, 'client', '/O=system:masters/CN=default', 'client_ext', days),
    (async () => {
      await openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'sa.key'], dir);
      await openssl(['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
    })(),
  ]);

  const file = (name: string): string => path.join(dir, name);
  await Promise.all(['ca.key', 'serving.key', 'client.key', 'sa.key'].map((k) => chmod(file(k), 0o600)));
  const read = (name: string): Promise<string> => readFile(file(name), 'utf8');
  const [caPem, clientCertPem, clientKeyPem] = await Promise.all([read('ca.crt'), read('client.crt'), read('client.key')]);
  return {
    dir,
    caCertFile: file('ca.crt'),
    caKeyFile: file('ca.key'),
    caPem,
    servingCertFile: file('serving.crt'),
    servingKeyFile: file('serving.key'),
    clientCertFile: file('client.crt'),
    clientKeyFile: file('client.key'),
    clientCertPem,
    clientKeyPem,
    serviceAccountKeyFile: file('sa.key'),
    serviceAccountPubFile: file('sa.pub'),
  };
}

/**
 * A client certificate signed by the CA of `pkiDir` (a control plane's `pki/`): the apiserver
 * takes the CN as the user name and each O as a group. Files `<name>.crt` and `<name>.key` in
 * `pkiDir`; resolves their PEMs.
 */
export async function issueClientCertificate(
  pkiDir: string,
  name: string,
  subject: { commonName: string; organizations?: readonly string[] },
  validDays = 1,
): Promise<{ certPem: string; keyPem: string }> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`certificate file name ${name}: lowercase letters, digits and dashes only`);
  const escape = (v: string): string => v.replace(/[/\\]/g, (c) => `\\${c}`);
  const subj = [...(subject.organizations ?? []).map((o) => `/O=${escape(o)}`), `/CN=${escape(subject.commonName)}`].join('');
  await issueLeaf(pkiDir, name, subj, 'client_ext', validDays);
  await chmod(path.join(pkiDir, `${name}.key`), 0o600);
  const [certPem, keyPem] = await Promise.all([
    readFile(path.join(pkiDir, `${name}.crt`), 'utf8'),
    readFile(path.join(pkiDir, `${name}.key`), 'utf8'),
  ]);
  return { certPem, keyPem };
}
