import { readFileSync, statSync } from 'node:fs';
import { OperatorError } from './errors.js';

/** A file holding secrets that cannot be used: named by its config key, with what to do about it. */
export class SecretFileError extends OperatorError {
  constructor(
    key: string,
    path: string,
    readonly problem: string,
  ) {
    super(`${key}: ${path}: ${problem}`);
    this.name = 'SecretFileError';
  }
}

/**
 * Reads a file of secrets, refusing one that others may read or change (as ssh does with private keys):
 * a secret others can read is no secret any more. `groupMayRead`: the file's group may read it (the admin
 * API token, shared with the admins who run stbctl), but still not change it.
 * @throws SecretFileError
 */
export function readSecretFile(key: string, path: string, groupMayRead = false): string {
  let text: string;
  let mode: number;
  try {
    text = readFileSync(path, 'utf8');
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    throw new SecretFileError(key, path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if ((mode & (groupMayRead ? 0o037 : 0o077)) !== 0) throw new SecretFileError(key, path, `mode ${mode.toString(8).padStart(4, '0')} lets others read or change it; chmod ${groupMayRead ? '640' : '600'} it`);
  return text;
}

/**
 * A bearer token from a file of secrets (first line, at least 16 characters), e.g. the CAS's or the CA's.
 * @throws SecretFileError
 */
export function readSecretToken(key: string, path: string, groupMayRead = false): string {
  const token = readSecretFile(key, path, groupMayRead).split('\n')[0]?.trim() ?? '';
  if (token.length < 16) throw new SecretFileError(key, path, 'the token is empty or shorter than 16 characters');
  return token;
}

/**
 * The PostgreSQL password of [store] password_file: its first line as it is (a password may hold spaces),
 * without the line end.
 * @throws SecretFileError
 */
export function readDatabasePassword(path: string): string {
  const key = '[store] password_file';
  const password = readSecretFile(key, path).split('\n')[0]!.replace(/\r$/, '');
  if (password === '') throw new SecretFileError(key, path, 'the first line, the password, is empty');
  return password;
}
