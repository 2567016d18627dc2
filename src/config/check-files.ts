import { readFileSync } from 'node:fs';
import { loadBootstrapCredentials } from '../management/bootstrap-credentials.js';
import { readSecretFile, readSecretToken } from '../secret-file.js';
import type { Config } from './schema.js';

/**
 * What `stbd check-config` checks beyond the syntax: the files the config points to exist, can be read, are
 * not empty, and (secrets) are not readable by others. Each problem names its key. Files the daemon creates
 * on first start (the API tokens, the master key with create_master_key) may be missing.
 */
export function checkReferencedFiles(c: Config): string[] {
  const problems: string[] = [];
  const attempt = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      problems.push((err as Error).message);
    }
  };
  if (c.cas.kind === 'http' && c.cas.token_file) attempt(() => readSecretToken('[cas] token_file', c.cas.token_file!));
  if (c.ca.kind === 'http' && c.ca.token_file) attempt(() => readSecretToken('[ca] token_file', c.ca.token_file!));
  if (!c.ca.create_master_key) attempt(() => readSecretFile('[ca] master_key_file', c.ca.master_key_file));
  if (c.cwmp.bootstrap_credentials_file) attempt(() => loadBootstrapCredentials(c.cwmp.bootstrap_credentials_file!));
  if (c.certs.tls_key_file) attempt(() => readSecretFile('[certs] tls_key_file', c.certs.tls_key_file!));
  if (c.certs.tls_cert_file) {
    try {
      if (readFileSync(c.certs.tls_cert_file, 'utf8').trim() === '') problems.push(`[certs] tls_cert_file: ${c.certs.tls_cert_file}: the file is empty`);
    } catch (err) {
      problems.push(`[certs] tls_cert_file: ${c.certs.tls_cert_file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return problems;
}
