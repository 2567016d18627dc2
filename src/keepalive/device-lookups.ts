import type { UnknownUsernames } from './unknown-usernames.js';

/** A datagram that waits for its sender to be looked up, and where it came from. */
export interface Waiting<From> {
  readonly datagram: Buffer;
  readonly from: From;
}

export interface LookupDeps<Found, From> {
  /** The devices whose STUN usernames these are, from the store (one indexed read for them all); absent: none. */
  find(usernames: readonly string[]): Promise<ReadonlyMap<string, Found>>;
  /** A device was found: it is now to be held in memory (before its datagrams are handled again). */
  found(username: string, device: Found): void;
  /** Handles a waiting datagram again, once its sender is held or known to be unknown. */
  replay(waiting: Waiting<From>): void;
  readonly unknown: UnknownUsernames;
  onError(err: unknown): void;
  /** Runs `fn` after the datagrams already received (setImmediate): the names of one turn go in one read. */
  later(fn: () => void): void;
}

/** What became of a datagram from a sender not held in memory. */
export type Deferral = 'waiting' | 'dropped' | 'unknown';

/** Names per read of the store. */
const BATCH = 500;

/**
 * A cluster node holds in memory only the devices whose bindings it holds; a keepalive from any other device
 * waits here while the store is asked for its STUN username (the names of one turn of the event loop in one
 * read, so a fleet a node has never seen is taken in at the store's pace of rows, not of round trips), and is
 * then handled as if it had just arrived. What a stranger can make it hold is bounded: `maxNames` names waiting
 * at once, `perName` datagrams each (more are dropped unanswered; STUN clients send again), and names the store
 * does not know are remembered as such.
 */
export class DeviceLookups<Found, From> {
  readonly #waiting = new Map<string, Waiting<From>[]>();
  /** Names not yet asked for. */
  #batch: string[] = [];

  constructor(
    private readonly deps: LookupDeps<Found, From>,
    private readonly maxNames = 4096,
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
    if (this.#batch.push(username) === 1) this.deps.later(() => this.#ask());
    return 'waiting';
  }

  #ask(): void {
    const names = this.#batch;
    this.#batch = [];
    for (let i = 0; i < names.length; i += BATCH) void this.#lookUp(names.slice(i, i + BATCH));
  }

  async #lookUp(names: readonly string[]): Promise<void> {
    let devices: ReadonlyMap<string, Found>;
    try {
      devices = await this.deps.find(names);
    } catch (err) {
      // The store is away: these datagrams are dropped (their senders retry); the names are not taken for unknown.
      for (const name of names) this.#waiting.delete(name);
      this.deps.onError(err);
      return;
    }
    for (const name of names) {
      const queue = this.#waiting.get(name) ?? [];
      this.#waiting.delete(name);
      const device = devices.get(name);
      if (device === undefined) this.deps.unknown.add(name);
      else this.deps.found(name, device);
      for (const w of queue) this.deps.replay(w);
    }
  }
}
