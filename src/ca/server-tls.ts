import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { BuiltinCa } from './builtin-ca.js';
import type { CaRepo } from './ca-repo.js';
import type { SealedBox } from './sealed-box.js';
import type { ServerNames } from './x509.js';
import type { Clock } from '../clock.js';
import type { ListenAddress } from '../config/listen.js';
import { OperatorError } from '../errors.js';

/** An HTTPS endpoint's TLS identity, PEM. */
export interface ServerTls {
  readonly cert: string;
  readonly key: string;
  /** Where it came from: the configured files, or the builtin CA (stored, sealed, in the `ca` table). */
  readonly source: 'files' | 'builtin';
  readonly notAfter: Date;
}

export class ServerTlsError extends OperatorError {
  constructor(key: string, path: string, problem: string) {
    super(`${key} ${path}: ${problem}`);
    this.name = 'ServerTlsError';
  }
}

/** Which endpoint a builtin server certificate is for: its `ca` table rows and its subject CN. */
export interface TlsEndpoint {
  /** Rows are `NAME.1`, `NAME.2`, … */
  readonly name: string;
  readonly commonName: string;
}

export const CERTS_ENDPOINT: TlsEndpoint = { name: 'certs-endpoint', commonName: 'stbd certificate proxy' };
export const CWMP_ENDPOINT: TlsEndpoint = { name: 'cwmp-endpoint', commonName: 'stbd ACS' };
export const FILES_ENDPOINT: TlsEndpoint = { name: 'files-endpoint', commonName: 'stbd file server' };
const VALIDITY_MS = 10 * 365 * 86_400_000;
/** At start, a stored server certificate with less than this left is replaced by a new one. */
const RENEW_BEFORE_MS = 30 * 86_400_000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';

function read(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServerTlsError(key, path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/**
 * `[SECTION] tls_cert_file` and `tls_key_file` (`section` is "[certs]", say): checked here, so that a bad
 * pair stops the daemon with one clear line.
 */
export function loadTlsFiles(section: string, certFile: string, keyFile: string): ServerTls {
  const cert = read(`${section} tls_cert_file`, certFile);
  const key = read(`${section} tls_key_file`, keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ServerTlsError(`${section} tls_cert_file`, certFile, `not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ServerTlsError(`${section} tls_key_file`, keyFile, `not a PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new ServerTlsError(`${section} tls_key_file`, keyFile, `is not the key of the certificate in ${certFile}`);
  return { cert, key, source: 'files', notAfter: new Date(x509.validTo) };
}

/** A file of PEM CA certificates (`key` names it in the error), checked here like the pair above. */
export function loadCaFile(key: string, file: string): string {
  const pem = read(key, file);
  try {
    new X509Certificate(pem);
  } catch (err) {
    throw new ServerTlsError(key, file, `not a PEM certificate (${(err as Error).message})`);
  }
  return pem;
}

export interface BuiltinTlsDeps {
  readonly repo: CaRepo;
  readonly box: SealedBox;
  readonly clock: Clock;
  readonly openCa: () => Promise<BuiltinCa>;
  readonly endpoint: TlsEndpoint;
  /** The names the certificate must be valid for (see endpointNames). */
  readonly names: ServerNames;
}

/**
 * The names a builtin server certificate carries: "localhost", 127.0.0.1 and ::1, and the endpoint's listen
 * address when it is a specific IP (a wildcard says nothing about the address STBs use).
 */
export function endpointNames(listen: ListenAddress): ServerNames {
  const ips = ['127.0.0.1', '::1'];
  if (isIP(listen.host) !== 0 && listen.host !== '0.0.0.0' && listen.host !== '::' && !ips.includes(listen.host)) ips.push(listen.host);
  return { dnsNames: ['localhost'], ips };
}

/** Is `x509` a TLS server certificate (serverAuth) for every one of `names`? */
function serves(x509: X509Certificate, names: ServerNames): boolean {
  return (x509.keyUsage ?? []).includes(SERVER_AUTH) && names.dnsNames.every((n) => x509.checkHost(n, { wildcards: false }) === n) && names.ips.every((ip) => x509.checkIP(ip) !== undefined);
}

/**
 * A TLS server certificate from the builtin CA (CN the endpoint's, extended key usage serverAuth,
 * subjectAltName `names`, 10 years), made once and kept in the `ca` table with its key sealed, so restarts
 * present the same certificate (STBs may pin it). Rows are generations (`certs-endpoint.1`, `.2`, …): at
 * start, one about to expire, or not a server certificate for `names` (made for another listen address, or
 * by an stbd that issued it with the client profile), is followed by a new one.
 */
export async function builtinServerTls(d: BuiltinTlsDeps): Promise<ServerTls> {
  for (let generation = 1; ; generation++) {
    const name = `${d.endpoint.name}.${generation}`;
    const context = `ca|${name}`;
    let stored = await d.repo.get(name);
    if (!stored) {
      const now = d.clock.now();
      const issued = await (await d.openCa()).issue(d.endpoint.commonName, new Date(now), new Date(now + VALIDITY_MS), d.names);
      await d.repo.insert(name, { certPem: issued.certPem, keySealed: d.box.seal(Buffer.from(issued.privateKeyPem), context) }, now);
      // Two daemons racing on one database: both use whichever row was stored first.
      stored = (await d.repo.get(name))!;
    }
    const x509 = new X509Certificate(stored.certPem);
    const notAfter = new Date(x509.validTo);
    if (notAfter.getTime() - d.clock.now() > RENEW_BEFORE_MS && serves(x509, d.names)) {
      return { cert: stored.certPem, key: d.box.open(stored.keySealed, context).toString('utf8'), source: 'builtin', notAfter };
    }
  }
}
