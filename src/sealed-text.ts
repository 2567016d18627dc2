/** Seals and opens values at rest: the SealedBox under the master key (AES-256-GCM, context as associated data). */
export interface Sealer {
  seal(plaintext: Buffer, context: string): Buffer;
  /** @throws when the value does not open with this key and context */
  open(sealed: Buffer, context: string): Buffer;
}

/**
 * The context a sealed column value is bound to: table, column and the row's key. A value copied to another
 * row or column does not open there.
 */
export const columnContext = (table: string, column: string, key: string | number): string => `${table}.${column}:${key}`;

/** A secret as stored in a TEXT column: its sealed bytes in base64 (never the secret itself). */
export const sealText = (sealer: Sealer, text: string, context: string): string => sealer.seal(Buffer.from(text, 'utf8'), context).toString('base64');

/** The sealed bytes of a stored secret (to open later). */
export const sealedBytes = (stored: string): Buffer => Buffer.from(stored, 'base64');

export const openText = (sealer: Sealer, stored: string, context: string): string => sealer.open(sealedBytes(stored), context).toString('utf8');
