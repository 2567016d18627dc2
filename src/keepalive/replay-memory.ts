import { grown } from '../typed-arrays.js';
import { fnv1a } from './fnv1a.js';

/** Transaction ids remembered per device: 4 bytes each. */
export const REMEMBERED_PER_DEVICE = 4;

/**
 * The transaction ids of each device's last few authenticated keepalives, so that a captured signed
 * keepalive is believed once (docs/protocols.md, TR-111). One typed array indexed by DeviceTable slot,
 * 16 bytes per device: an id is kept as a 32-bit fingerprint (a fresh id is mistaken for a remembered
 * one about once in a billion keepalives; it then gets the answer a retransmission or a replay gets),
 * newest first. Keepalives carry no time, so an id is forgotten only when newer ones push it out.
 */
export class ReplayMemory {
  #ids = new Uint32Array(0);

  /** Makes room for slots [0, n). */
  ensureCapacity(n: number): void {
    const slots = this.#ids.length / REMEMBERED_PER_DEVICE;
    if (n <= slots) return;
    this.#ids = grown(this.#ids, Math.max(n, Math.ceil(slots * 1.5), 1024) * REMEMBERED_PER_DEVICE);
  }

  /** The fingerprint of a transaction id (the 16 bytes after the length field); never 0, which means "none". */
  static fingerprint(message: Buffer): number {
    return fnv1a(message, 4, 20) || 1;
  }

  has(slot: number, fingerprint: number): boolean {
    const ids = this.#ids;
    const at = slot * REMEMBERED_PER_DEVICE;
    for (let i = at; i < at + REMEMBERED_PER_DEVICE; i++) if (ids[i] === fingerprint) return true;
    return false;
  }

  /** Remembers an id as the device's newest, forgetting its oldest. */
  remember(slot: number, fingerprint: number): void {
    const ids = this.#ids;
    const at = slot * REMEMBERED_PER_DEVICE;
    for (let i = at + REMEMBERED_PER_DEVICE - 1; i > at; i--) ids[i] = ids[i - 1] as number;
    ids[at] = fingerprint;
  }

  /** The device was removed. */
  forget(slot: number): void {
    this.#ids.fill(0, slot * REMEMBERED_PER_DEVICE, (slot + 1) * REMEMBERED_PER_DEVICE);
  }
}
