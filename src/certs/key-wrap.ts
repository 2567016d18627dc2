import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** The key information an STB receives: its certificate and private key, never in clear (even inside TLS). */
export interface KeyInformation {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** AES-256-GCM output, base64. */
export interface WrappedKey {
  readonly alg: 'A256GCM-HKDF-SHA256';
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
}

export interface WrapContext {
  readonly stbId: string;
  readonly certId: string;
  readonly version: number;
  /** The request's nonce: each answer gets its own key. */
  readonly nonce: string;
}

const aad = (c: WrapContext) => Buffer.from(`${c.certId}|${c.stbId}|${c.version}`);

/** The wrapping key: HKDF-SHA256 of the device secret, salted with the nonce, bound to the STB and certificate. */
function wrappingKey(secret: string, c: WrapContext): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, c.nonce, `stbd cert key|${c.stbId}|${c.certId}`, 32));
}

export function wrapKey(secret: string, c: WrapContext, info: KeyInformation): WrappedKey {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', wrappingKey(secret, c), iv);
  cipher.setAAD(aad(c));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(info)), cipher.final()]);
  return { alg: 'A256GCM-HKDF-SHA256', iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** The STB side (and tests). @throws when the key, context or bytes are wrong (GCM authentication). */
export function unwrapKey(secret: string, c: WrapContext, w: WrappedKey): KeyInformation {
  const decipher = createDecipheriv('aes-256-gcm', wrappingKey(secret, c), Buffer.from(w.iv, 'base64'));
  decipher.setAAD(aad(c));
  decipher.setAuthTag(Buffer.from(w.tag, 'base64'));
  const plain = Buffer.concat([decipher.update(Buffer.from(w.ciphertext, 'base64')), decipher.final()]);
  return JSON.parse(plain.toString('utf8')) as KeyInformation;
}
