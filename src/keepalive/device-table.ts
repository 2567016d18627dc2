import { grown } from '../typed-arrays.js';
import { fnv1a } from './fnv1a.js';

/** Credentials the keepalive path needs for one device. */
export interface KeepaliveCredentials {
  readonly id: string;
  readonly stunUsername: string;
  readonly stunPassword: string;
}

const EMPTY = 0;
const TOMBSTONE = -1;
const REMOVED = 0xffff;

/**
 * Who may send keepalives, held compactly enough for millions of devices (about 70 bytes each): every
 * device gets a slot number; its STUN username, id (when it differs) and STUN password live as bytes
 * in one arena, and an open-addressing index of slot numbers finds a slot by username bytes, straight
 * from the datagram, without making a string. Presence (presence.ts) keeps its own arrays indexed by
 * the same slots. Slots of removed devices are not reused until restart, so a late timer for a slot
 * can never hit another device.
 */
export class DeviceTable {
  #arena: Buffer;
  #arenaUsed = 0;
  /** Per slot: where its bytes start, and the lengths of username, id (0: same as the username) and password. */
  #start: Uint32Array;
  #userLen: Uint16Array;
  #idLen: Uint16Array;
  #pwLen: Uint16Array;
  #slots = 0;
  /** Open addressing: slot + 1, EMPTY or TOMBSTONE; kept at most half full. */
  #index = new Int32Array(1024);
  #indexUsed = 0;
  /** The few devices whose id differs from their STUN username, by id. */
  readonly #otherIds = new Map<string, number>();
  readonly #scratch = Buffer.allocUnsafe(4096);

  constructor(expectedDevices = 0) {
    const n = Math.max(1024, expectedDevices);
    this.#arena = Buffer.allocUnsafe(n * 48);
    this.#start = new Uint32Array(n);
    this.#userLen = new Uint16Array(n);
    this.#idLen = new Uint16Array(n);
    this.#pwLen = new Uint16Array(n);
    this.#resizeIndex(n * 2);
  }

  /** Slots handed out so far, removed ones included: arrays indexed by slot need this length. */
  get slotCount(): number {
    return this.#slots;
  }

  /** Adds a device (its STUN username must not be in the table already) and returns its slot. */
  add(device: KeepaliveCredentials): number {
    const slot = this.#slots;
    if (slot >= this.#start.length) this.#growSlots();
    const sameId = device.id === device.stunUsername;
    const need = Buffer.byteLength(device.stunUsername) + (sameId ? 0 : Buffer.byteLength(device.id)) + Buffer.byteLength(device.stunPassword);
    if (this.#arenaUsed + need > this.#arena.length) this.#growArena(need);
    const start = this.#arenaUsed;
    const userLen = this.#arena.write(device.stunUsername, start);
    const idLen = sameId ? 0 : this.#arena.write(device.id, start + userLen);
    const pwLen = this.#arena.write(device.stunPassword, start + userLen + idLen);
    this.#arenaUsed += userLen + idLen + pwLen;
    this.#start[slot] = start;
    this.#userLen[slot] = userLen;
    this.#idLen[slot] = idLen;
    this.#pwLen[slot] = pwLen;
    this.#slots++;
    if (!sameId) this.#otherIds.set(device.id, slot);
    if ((this.#indexUsed + 1) * 2 > this.#index.length) this.#resizeIndex(this.#index.length * 2);
    this.#insert(slot);
    return slot;
  }

  remove(id: string): number | undefined {
    const slot = this.slotOfId(id);
    if (slot === undefined) return undefined;
    const start = this.#start[slot] as number;
    const i = this.#probe(this.#arena, start, start + (this.#userLen[slot] as number));
    if (i >= 0) this.#index[i] = TOMBSTONE;
    this.#otherIds.delete(id);
    this.#userLen[slot] = REMOVED;
    return slot;
  }

  /** The slot whose STUN username is `buf[start, end)`, e.g. a USERNAME value inside a datagram. */
  slotOfUsernameBytes(buf: Buffer, start: number, end: number): number | undefined {
    const i = this.#probe(buf, start, end);
    return i < 0 ? undefined : (this.#index[i] as number) - 1;
  }

  slotOfUsername(username: string): number | undefined {
    const len = this.#scratch.write(username, 0);
    if (len >= this.#scratch.length - 4) return this.slotOfUsernameBytes(Buffer.from(username), 0, Buffer.byteLength(username));
    return this.slotOfUsernameBytes(this.#scratch, 0, len);
  }

  slotOfId(id: string): number | undefined {
    const other = this.#otherIds.get(id);
    if (other !== undefined) return other;
    const slot = this.slotOfUsername(id);
    // The username matched, but the device's id may be another string than its username.
    return slot !== undefined && this.#idLen[slot] === 0 ? slot : undefined;
  }

  /** The device id of a slot, or null if the device was removed. Allocates: not for the per-datagram path. */
  idOf(slot: number): string | null {
    if (slot >= this.#slots || this.#userLen[slot] === REMOVED) return null;
    const userLen = this.#userLen[slot] as number;
    const start = this.#start[slot] as number;
    const idLen = this.#idLen[slot] as number;
    return idLen === 0 ? this.#arena.toString('utf8', start, start + userLen) : this.#arena.toString('utf8', start + userLen, start + userLen + idLen);
  }

  /** The STUN password as HMAC key. A view into the arena: do not keep it. */
  passwordOf(slot: number): Buffer {
    const off = (this.#start[slot] as number) + (this.#userLen[slot] as number) + (this.#idLen[slot] as number);
    return this.#arena.subarray(off, off + (this.#pwLen[slot] as number));
  }

  /** Index position holding the slot whose username is `buf[start, end)`, or -1. */
  #probe(buf: Buffer, start: number, end: number): number {
    const mask = this.#index.length - 1;
    const len = end - start;
    for (let i = fnv1a(buf, start, end) & mask; ; i = (i + 1) & mask) {
      const entry = this.#index[i] as number;
      if (entry === EMPTY) return -1;
      if (entry === TOMBSTONE) continue;
      const slot = entry - 1;
      if (this.#userLen[slot] !== len) continue;
      if (this.#equals(buf, start, this.#start[slot] as number, len)) return i;
    }
  }

  /** Byte comparison in JS: for usernames of a few dozen bytes it beats a call into Buffer.compare. */
  #equals(buf: Buffer, start: number, at: number, len: number): boolean {
    const arena = this.#arena;
    for (let k = 0; k < len; k++) if (buf[start + k] !== arena[at + k]) return false;
    return true;
  }

  #insert(slot: number): void {
    const mask = this.#index.length - 1;
    const start = this.#start[slot] as number;
    let i = fnv1a(this.#arena, start, start + (this.#userLen[slot] as number)) & mask;
    while (this.#index[i] !== EMPTY && this.#index[i] !== TOMBSTONE) i = (i + 1) & mask;
    if (this.#index[i] === EMPTY) this.#indexUsed++;
    this.#index[i] = slot + 1;
  }

  #resizeIndex(minCapacity: number): void {
    let capacity = 1024;
    while (capacity < minCapacity) capacity *= 2;
    this.#index = new Int32Array(capacity);
    this.#indexUsed = 0;
    for (let slot = 0; slot < this.#slots; slot++) if (this.#userLen[slot] !== REMOVED) this.#insert(slot);
  }

  #growSlots(): void {
    const n = this.#start.length * 2;
    this.#start = grown(this.#start, n);
    this.#userLen = grown(this.#userLen, n);
    this.#idLen = grown(this.#idLen, n);
    this.#pwLen = grown(this.#pwLen, n);
  }

  #growArena(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.#arena.length * 2, this.#arenaUsed + need));
    this.#arena.copy(bigger, 0, 0, this.#arenaUsed);
    this.#arena = bigger;
  }
}
