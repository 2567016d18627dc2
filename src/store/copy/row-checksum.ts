import { hash } from 'node:crypto';

/** A row as both engines hand it to the copy: values in the order of the table's column list. */
export type Row = readonly unknown[];

const TAG = { null: 0x4e, integer: 0x49, real: 0x52, text: 0x53, bytes: 0x42 } as const; // N I R S B

/**
 * One value in a form that does not depend on the engine it was read from. The engines hand the same
 * stored value over as different JavaScript types: an INTEGER as a bigint (SQLite, exact) or a number
 * (PostgreSQL int4), a flag as 0/1 or as a boolean, a BLOB/BYTEA as a Buffer. So integers are written as
 * their decimal digits whatever their type, booleans as the integers 0/1, bytes as bytes; each value is
 * tagged and length-prefixed so no two rows can encode alike.
 */
function valueParts(v: unknown): [tag: number, body: Buffer] {
  if (v === null || v === undefined) return [TAG.null, EMPTY];
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return [TAG.integer, Buffer.from(v.toString(), 'latin1')];
  if (typeof v === 'boolean') return [TAG.integer, Buffer.from(v ? '1' : '0', 'latin1')];
  if (typeof v === 'number') return [TAG.real, Buffer.from(String(v), 'latin1')];
  if (typeof v === 'string') return [TAG.text, Buffer.from(v, 'utf8')];
  if (v instanceof Uint8Array) return [TAG.bytes, Buffer.from(v.buffer, v.byteOffset, v.byteLength)];
  throw new TypeError(`store copy: a value of an unexpected type (${Object.prototype.toString.call(v)})`);
}

const EMPTY = Buffer.alloc(0);

/** A row's canonical encoding: its column count, then each value as tag, length (4 bytes) and body. */
export function encodeRow(row: Row): Buffer {
  const parts = row.map(valueParts);
  const out = Buffer.allocUnsafe(4 + parts.reduce((n, [, body]) => n + 5 + body.length, 0));
  out.writeUInt32BE(row.length, 0);
  let at = 4;
  for (const [tag, body] of parts) {
    out[at] = tag;
    out.writeUInt32BE(body.length, at + 1);
    at += 5 + body.copy(out, at + 5);
  }
  return out;
}

const MOD = 1n << 256n;

/**
 * A table's checksum: the row count and the sum, modulo 2^256, of the SHA-256 of each row's canonical
 * encoding. A sum does not depend on the order rows come in, and it must not: each engine pages through
 * a table in its own primary-key order, and the two order text differently (SQLite by bytes, PostgreSQL
 * by the database's collation). A missing, extra or changed row changes the sum.
 */
export class TableChecksum {
  private sum = 0n;
  private count = 0;

  add(row: Row): void {
    const d = hash('sha256', encodeRow(row), 'buffer'); // one call: half the cost of a createHash per row
    const h = (d.readBigUInt64BE(0) << 192n) | (d.readBigUInt64BE(8) << 128n) | (d.readBigUInt64BE(16) << 64n) | d.readBigUInt64BE(24);
    this.sum = (this.sum + h) & (MOD - 1n);
    this.count++;
  }

  get rows(): number {
    return this.count;
  }

  /** 64 hexadecimal digits. */
  digest(): string {
    return this.sum.toString(16).padStart(64, '0');
  }
}
