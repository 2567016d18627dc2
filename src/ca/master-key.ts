import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OperatorError } from '../errors.js';
import { readSecretFile, SecretFileError } from '../secret-file.js';

export class MasterKeyError extends OperatorError {
  constructor(path: string, problem: string) {
    super(`master key file ${path}: ${problem}`);
    this.name = 'MasterKeyError';
  }
}

const KEY_BYTES = 32;

/**
 * The key that encrypts private keys at rest: 32 random bytes, hex in a file of mode 0600. Created on first
 * use when `create` is true; with systemd, point the path at a credential (LoadCredential=) and set
 * `create` false, so a missing credential is an error rather than a silently new key.
 */
export function loadMasterKey(path: string, create: boolean): Buffer {
  if (create) {
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new MasterKeyError(path, `cannot create it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  let text: string;
  try {
    text = readSecretFile('[ca] master_key_file', path).trim();
  } catch (err) {
    throw err instanceof SecretFileError ? new MasterKeyError(path, err.problem) : err;
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new MasterKeyError(path, 'expected 64 hexadecimal characters (32 bytes)');
  return Buffer.from(text, 'hex');
}
