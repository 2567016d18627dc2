import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;

/** Opening failed: wrong key, wrong associated data, or the bytes were changed. */
export class SealError extends Error {
  constructor(message = 'sealed data failed authentication (wrong key, wrong context, or tampered)') {
    super(message);
    this.name = 'SealError';
  }
}

/**
 * AES-256-GCM encryption at rest. `context` is bound in as associated data (e.g. certificate id, STB id
 * and version), so a sealed value copied to another row does not open there.
 * Layout: version (1) · IV (12) · tag (16) · ciphertext.
 */
export class SealedBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new TypeError('an AES-256 key is 32 bytes');
    this.#key = key;
  }

  /** A 32-byte key for another use of the master key (HKDF-SHA256, `label` its purpose): never the AES key itself. */
  derive(label: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, '', `stbd ${label}`, 32));
  }

  seal(plaintext: Buffer, context: string): Buffer {
    const iv = randomBytes(IV_LENGTH);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
  }

  /** @throws SealError */
  open(sealed: Buffer, context: string): Buffer {
    if (sealed.length < 1 + IV_LENGTH + TAG_LENGTH || sealed[0] !== VERSION) throw new SealError('not a sealed value of a known version');
    const iv = sealed.subarray(1, 1 + IV_LENGTH);
    const tag = sealed.subarray(1 + IV_LENGTH, 1 + IV_LENGTH + TAG_LENGTH);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_LENGTH });
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(1 + IV_LENGTH + TAG_LENGTH)), decipher.final()]);
    } catch {
      throw new SealError();
    }
  }
}
