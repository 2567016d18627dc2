import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OperatorError } from '../errors.js';
import { readSecretToken } from '../secret-file.js';

export class TokenFileError extends OperatorError {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`token file ${path}: ${problem}`);
    this.name = 'TokenFileError';
  }
}

/**
 * Reads a bearer token of the API, creating the file with a fresh random token (mode 0600) if it is missing.
 * `wx` makes creation atomic: two daemons starting at once cannot end up with different tokens. A file
 * others may read is refused, naming `key`; `groupMayRead` for the admin token (the admins' group).
 * @throws TokenFileError (cannot create it), SecretFileError
 */
export function loadOrCreateToken(path: string, key: string, groupMayRead = false): string {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new TokenFileError(path, `cannot create it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return readSecretToken(key, path, groupMayRead);
}

/** Reads a token file (first line, trimmed), as stbctl does (the daemon checks its mode too). */
export function readToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new TokenFileError(path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const token = text.split('\n')[0]?.trim() ?? '';
  if (token.length < 16) throw new TokenFileError(path, 'the token is empty or shorter than 16 characters');
  return token;
}
