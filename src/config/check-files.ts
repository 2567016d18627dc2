import { existsSync, readFileSync } from 'node:fs';
import { loadBootstrapCredentials } from '../management/bootstrap-credentials.js';
import { readDatabasePassword, readSecretFile, readSecretToken } from '../secret-file.js';
import type { Config } from './schema.js';

/**
 * What `stbd check-config` checks beyond the syntax: the files the config points to exist, can be read, are
 * not empty, and (secrets) are not readable by others. Each problem names its key. Files the daemon creates
 * on first start (the API tokens, the master key with create_master_key) may be missing.
 */
export function checkReferencedFiles(c: Config): string[] {
  const problems: string[] = [];
  const notEmpty = (key: string, file: string) => {
    try {
      if (readFileSync(file, 'utf8').trim() === '') problems.push(`${key}: ${file}: the file is empty`);
    } catch (err) {
      problems.push(`${key}: ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  };
  const attempt = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      problems.push((err as Error).message);
    }
  };
  if (c.store.kind === 'postgres' && c.store.password_file) attempt(() => readDatabasePassword(c.store.password_file!));
  if (c.cas.kind === 'http' && c.cas.token_file) attempt(() => readSecretToken('[cas] token_file', c.cas.token_file!));
  if (c.ca.kind === 'http' && c.ca.token_file) attempt(() => readSecretToken('[ca] token_file', c.ca.token_file!));
  if (!c.ca.create_master_key) attempt(() => readSecretFile('[ca] master_key_file', c.ca.master_key_file));
  // The API's tokens are created on first start; once there, the daemon refuses them readable by others.
  for (const [key, path, groupMayRead] of [['[api] token_file', c.api.token_file, true], ['[api] bss_token_file', c.api.bss_token_file, false], ['[certs] media_token_file', c.certs.media_token_file, false]] as const) {
    if (existsSync(path)) attempt(() => readSecretToken(key, path, groupMayRead));
  }
  if (c.cwmp.bootstrap_credentials_file) attempt(() => loadBootstrapCredentials(c.cwmp.bootstrap_credentials_file!));
  for (const [section, keys] of [['certs', c.certs], ['cwmp', c.cwmp], ['files', c.files]] as const) {
    if (keys.tls_key_file) attempt(() => readSecretFile(`[${section}] tls_key_file`, keys.tls_key_file!));
    if (keys.tls_cert_file) notEmpty(`[${section}] tls_cert_file`, keys.tls_cert_file);
  }
  if (c.cwmp.client_ca_file) notEmpty('[cwmp] client_ca_file', c.cwmp.client_ca_file);
  return problems;
}
