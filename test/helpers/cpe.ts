import { randomBytes } from 'node:crypto';
import { type IntegrityVariant, MAGIC_COOKIE, MessageType, encode, type StunAttribute } from '../../src/stun/index.js';

export interface CpeRequestOptions {
  readonly dialect?: 'rfc3489' | 'rfc5389';
  readonly username?: string;
  /** Pad USERNAME with spaces to a multiple of 4, counted in its length (tr111.md §1). */
  readonly padUsername?: boolean;
  readonly connectionRequestBinding?: boolean;
  readonly bindingChange?: boolean;
  readonly integrity?: { readonly password: string; readonly variant: IntegrityVariant };
  readonly fingerprint?: boolean;
  readonly extra?: readonly StunAttribute[];
  readonly transactionId?: Buffer;
}

/** A Binding Request as a TR-111 CPE agent sends it: USERNAME, 0xC001, 0xC002, MESSAGE-INTEGRITY last. */
export function cpeRequest(o: CpeRequestOptions = {}): Buffer {
  const dialect = o.dialect ?? 'rfc3489';
  const transactionId = o.transactionId ?? (dialect === 'rfc5389' ? Buffer.concat([u32(MAGIC_COOKIE), randomBytes(12)]) : randomBytes(16));
  const attributes: StunAttribute[] = [];
  if (o.username !== undefined) {
    const value = o.padUsername ? o.username.padEnd(Math.ceil(o.username.length / 4) * 4, ' ') : o.username;
    attributes.push({ kind: 'USERNAME', value });
  }
  if (o.connectionRequestBinding) attributes.push({ kind: 'CONNECTION-REQUEST-BINDING', value: 'dslforum.org/TR-111 ' });
  if (o.bindingChange) attributes.push({ kind: 'BINDING-CHANGE' });
  attributes.push(...(o.extra ?? []));
  return encode({
    type: MessageType.BindingRequest,
    transactionId,
    attributes,
    ...(o.integrity ? { integrity: { key: o.integrity.password, variant: o.integrity.variant } } : {}),
    fingerprint: o.fingerprint ?? dialect === 'rfc5389',
  });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
