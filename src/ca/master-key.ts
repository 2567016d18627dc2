import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { OperatorError } from '../errors.js';

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
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new MasterKeyError(path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new MasterKeyError(path, 'expected 64 hexadecimal characters (32 bytes)');
  // Like ssh with private keys: a key others can read is no longer a secret, so refuse to use it.
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) throw new MasterKeyError(path, `mode ${mode.toString(8).padStart(4, '0')} lets others read or change it; chmod 600 it`);
  return Buffer.from(text, 'hex');
}
