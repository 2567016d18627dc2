import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { BuiltinCa } from '../ca/builtin-ca.js';
import type { CaRepo } from '../ca/ca-repo.js';
import type { SealedBox } from '../ca/sealed-box.js';
import type { Clock } from '../clock.js';
import { OperatorError } from '../errors.js';

/** The STB endpoint's TLS identity, PEM. */
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

export const SERVER_COMMON_NAME = 'stbd certificate proxy';
const NAME = 'certs-endpoint';
const VALIDITY_MS = 10 * 365 * 86_400_000;
/** At start, a stored server certificate with less than this left is replaced by a new one. */
const RENEW_BEFORE_MS = 30 * 86_400_000;

function read(key: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new ServerTlsError(key, path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}

/** `[certs] tls_cert_file` and `tls_key_file`: checked here, so that a bad pair stops the daemon with one clear line. */
export function loadTlsFiles(certFile: string, keyFile: string): ServerTls {
  const cert = read('[certs] tls_cert_file', certFile);
  const key = read('[certs] tls_key_file', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ServerTlsError('[certs] tls_cert_file', certFile, `not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new ServerTlsError('[certs] tls_key_file', keyFile, `not a PEM private key (${(err as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new ServerTlsError('[certs] tls_key_file', keyFile, `is not the key of the certificate in ${certFile}`);
  return { cert, key, source: 'files', notAfter: new Date(x509.validTo) };
}

export interface BuiltinTlsDeps {
  readonly repo: CaRepo;
  readonly box: SealedBox;
  readonly clock: Clock;
  readonly openCa: () => Promise<BuiltinCa>;
}

/**
 * A server certificate from the builtin CA (CN "stbd certificate proxy", 10 years), made once and kept in
 * the `ca` table with its key sealed, so restarts present the same certificate (STBs may pin it). Rows are
 * generations (`certs-endpoint.1`, `.2`, …): one that is about to expire is followed by a new one at start.
 */
export async function builtinServerTls(d: BuiltinTlsDeps): Promise<ServerTls> {
  for (let generation = 1; ; generation++) {
    const name = `${NAME}.${generation}`;
    const context = `ca|${name}`;
    let stored = d.repo.get(name);
    if (!stored) {
      const now = d.clock.now();
      const issued = await (await d.openCa()).issue(SERVER_COMMON_NAME, new Date(now), new Date(now + VALIDITY_MS));
      d.repo.insert(name, { certPem: issued.certPem, keySealed: d.box.seal(Buffer.from(issued.privateKeyPem), context) }, now);
      // Two daemons racing on one database: both use whichever row was stored first.
      stored = d.repo.get(name)!;
    }
    const notAfter = new Date(new X509Certificate(stored.certPem).validTo);
    if (notAfter.getTime() - d.clock.now() > RENEW_BEFORE_MS) {
      return { cert: stored.certPem, key: d.box.open(stored.keySealed, context).toString('utf8'), source: 'builtin', notAfter };
    }
  }
}
