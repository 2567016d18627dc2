/** Credentials the keepalive path needs for one device. */
export interface KeepaliveCredentials {
  readonly id: string;
  readonly stunUsername: string;
  readonly stunPassword: string;
}

const NO_SLOT = -1;

/**
 * Who may send keepalives, held compactly enough for millions of devices: every device gets a slot
 * number; ids live in one array, STUN passwords in one byte arena, and one Map finds a slot by STUN
 * username. Presence (presence.ts) keeps its own arrays indexed by the same slots.
 * Slots of removed devices are not reused until restart, so a late timer for a slot can never hit
 * another device.
 */
export class DeviceTable {
  readonly #slotByUsername = new Map<string, number>();
  /** Only for devices whose id differs from their STUN username (by default they are equal). */
  readonly #slotByOtherId = new Map<string, number>();
  readonly #usernameOfOther = new Map<number, string>();
  #ids: (string | null)[] = [];
  #pwOffset = new Uint32Array(1024);
  #pwLength = new Uint16Array(1024);
  #arena = Buffer.alloc(64 * 1024);
  #arenaUsed = 0;
  #count = 0;

  /** Devices present (removed ones not counted). */
  get count(): number {
    return this.#count;
  }

  /** Slots handed out so far, removed ones included: arrays indexed by slot need this length. */
  get slotCount(): number {
    return this.#ids.length;
  }

  add(device: KeepaliveCredentials): number {
    const slot = this.#ids.length;
    if (slot >= this.#pwOffset.length) this.#grow();
    this.#ids.push(device.id === device.stunUsername ? device.stunUsername : device.id);
    this.#slotByUsername.set(device.stunUsername, slot);
    if (device.id !== device.stunUsername) {
      this.#slotByOtherId.set(device.id, slot);
      this.#usernameOfOther.set(slot, device.stunUsername);
    }
    const pw = Buffer.from(device.stunPassword, 'utf8');
    if (this.#arenaUsed + pw.length > this.#arena.length) {
      const bigger = Buffer.alloc(Math.max(this.#arena.length * 2, this.#arenaUsed + pw.length));
      this.#arena.copy(bigger, 0, 0, this.#arenaUsed);
      this.#arena = bigger;
    }
    pw.copy(this.#arena, this.#arenaUsed);
    this.#pwOffset[slot] = this.#arenaUsed;
    this.#pwLength[slot] = pw.length;
    this.#arenaUsed += pw.length;
    this.#count++;
    return slot;
  }

  remove(id: string): number | undefined {
    const slot = this.slotOfId(id);
    if (slot === undefined) return undefined;
    this.#slotByUsername.delete(this.#usernameOfOther.get(slot) ?? id);
    this.#slotByOtherId.delete(id);
    this.#usernameOfOther.delete(slot);
    this.#ids[slot] = null;
    this.#count--;
    return slot;
  }

  slotOfUsername(username: string): number | undefined {
    return this.#slotByUsername.get(username);
  }

  slotOfId(id: string): number | undefined {
    const slot = this.#slotByUsername.get(id) ?? NO_SLOT;
    if (slot !== NO_SLOT && this.#ids[slot] === id) return slot;
    return this.#slotByOtherId.get(id);
  }

  /** The device id of a slot, or null if the device was removed. */
  idOf(slot: number): string | null {
    return this.#ids[slot] ?? null;
  }

  /** The STUN password as HMAC key. A view into the arena: do not keep it. */
  passwordOf(slot: number): Buffer {
    const off = this.#pwOffset[slot] as number;
    return this.#arena.subarray(off, off + (this.#pwLength[slot] as number));
  }

  #grow(): void {
    const n = this.#pwOffset.length * 2;
    const off = new Uint32Array(n);
    off.set(this.#pwOffset);
    this.#pwOffset = off;
    const len = new Uint16Array(n);
    len.set(this.#pwLength);
    this.#pwLength = len;
  }
}
