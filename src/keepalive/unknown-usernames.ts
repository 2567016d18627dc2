/**
 * STUN usernames the store was asked about and does not know, remembered for `ttlMs` so that a stranger
 * repeating a made-up name costs a store query once, not per datagram. Bounded: past `capacity` the oldest
 * name is forgotten first. A device registered meanwhile is forgotten from here at once (`delete`, `clear`).
 */
export class UnknownUsernames {
  /** Name → when it was found unknown; a Map keeps insertion order, so the first key is the oldest. */
  readonly #at = new Map<string, number>();

  constructor(
    private readonly capacity: number,
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get size(): number {
    return this.#at.size;
  }

  has(name: string): boolean {
    const at = this.#at.get(name);
    if (at === undefined) return false;
    if (this.now() - at < this.ttlMs) return true;
    this.#at.delete(name);
    return false;
  }

  add(name: string): void {
    this.#at.delete(name);
    this.#at.set(name, this.now());
    if (this.#at.size > this.capacity) this.#at.delete(this.#at.keys().next().value as string);
  }

  delete(name: string): void {
    this.#at.delete(name);
  }

  clear(): void {
    this.#at.clear();
  }
}
