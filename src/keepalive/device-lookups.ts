import type { UnknownUsernames } from './unknown-usernames.js';

/** A datagram that waits for its sender to be looked up, and where it came from. */
export interface Waiting<From> {
  readonly datagram: Buffer;
  readonly from: From;
}

export interface LookupDeps<Found, From> {
  /** The device whose STUN username this is, from the store (an indexed read); undefined: none. */
  find(username: string): Promise<Found | undefined>;
  /** A device was found: it is now to be held in memory (before its datagrams are handled again). */
  found(username: string, device: Found): void;
  /** Handles a waiting datagram again, once its sender is held or known to be unknown. */
  replay(waiting: Waiting<From>): void;
  readonly unknown: UnknownUsernames;
  onError(err: unknown): void;
}

/** What became of a datagram from a sender not held in memory. */
export type Deferral = 'waiting' | 'dropped' | 'unknown';

/**
 * A cluster node holds in memory only the devices whose bindings it holds; a keepalive from any other device
 * waits here while the store is asked for its STUN username, and is then handled as if it had just arrived.
 * What a stranger can make it hold is bounded: `maxNames` lookups at once, `perName` datagrams each (more are
 * dropped unanswered; STUN clients send again), and names the store does not know are remembered as such.
 */
export class DeviceLookups<Found, From> {
  readonly #waiting = new Map<string, Waiting<From>[]>();

  constructor(
    private readonly deps: LookupDeps<Found, From>,
    private readonly maxNames = 512,
    private readonly perName = 4,
  ) {}

  /** Names being looked up now. */
  get pending(): number {
    return this.#waiting.size;
  }

  /**
   * `unknown`: the store was asked lately and has no such device (refuse it as usual); `waiting`: it is
   * being looked up and the datagram will be replayed; `dropped`: too much is waiting already.
   */
  defer(username: string, datagram: Buffer, from: From): Deferral {
    if (this.deps.unknown.has(username)) return 'unknown';
    const queue = this.#waiting.get(username);
    if (queue) {
      if (queue.length >= this.perName) return 'dropped';
      queue.push({ datagram: Buffer.from(datagram), from });
      return 'waiting';
    }
    if (this.#waiting.size >= this.maxNames) return 'dropped';
    // A copy: the datagram is kept past the receive that delivered it.
    this.#waiting.set(username, [{ datagram: Buffer.from(datagram), from }]);
    void this.#lookUp(username);
    return 'waiting';
  }

  async #lookUp(username: string): Promise<void> {
    let device: Found | undefined;
    try {
      device = await this.deps.find(username);
    } catch (err) {
      // The store is away: these datagrams are dropped (their senders retry); the name is not taken for unknown.
      this.#waiting.delete(username);
      this.deps.onError(err);
      return;
    }
    const queue = this.#waiting.get(username) ?? [];
    this.#waiting.delete(username);
    if (device === undefined) this.deps.unknown.add(username);
    else this.deps.found(username, device);
    for (const w of queue) this.deps.replay(w);
  }
}
