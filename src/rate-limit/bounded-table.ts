/**
 * A keyed table that remembers insertion order for eviction, without asking a Map for its oldest entry.
 * V8's Map keeps deleted entries as holes until it rehashes: taking the first key after many deletes at
 * the head scans the holes (19 µs a call at 60k keys), and deleting and setting one key again and again
 * is worse (83 µs). Under a flood those are the calls made per packet, so the order lives in a queue of
 * its own here, and the Map only sees get, set of new keys, and delete. Pure data structure.
 */
export class BoundedTable<V> {
  readonly #map = new Map<string, { value: V; seq: number }>();
  // The queue: parallel arrays of key and sequence number; an entry whose sequence number is no longer
  // its key's is stale (the key was deleted, or moved to the back) and skipped.
  #keys: string[] = [];
  #seqs: number[] = [];
  #head = 0;
  #seq = 0;

  get size(): number {
    return this.#map.size;
  }

  get(key: string): V | undefined {
    return this.#map.get(key)?.value;
  }

  /** Sets a key's value; a new key goes to the back of the order, a known one keeps its place. */
  set(key: string, value: V): void {
    const e = this.#map.get(key);
    if (e) {
      e.value = value;
      return;
    }
    const seq = ++this.#seq;
    this.#map.set(key, { value, seq });
    this.#push(key, seq);
  }

  delete(key: string): void {
    this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
    this.#keys = [];
    this.#seqs = [];
    this.#head = 0;
  }

  /** The entry longest in the table (since insertion or its last move to the back). */
  oldest(): [string, V] | undefined {
    while (this.#head < this.#keys.length) {
      const key = this.#keys[this.#head]!;
      const e = this.#map.get(key);
      if (e && e.seq === this.#seqs[this.#head]) return [key, e.value];
      this.#head++;
    }
    return undefined;
  }

  /** Removes the oldest entry. */
  shift(): void {
    const o = this.oldest();
    if (o) this.#map.delete(o[0]);
  }

  /** Moves the oldest entry to the back (a second chance). */
  requeueOldest(): void {
    const o = this.oldest();
    if (!o) return;
    const e = this.#map.get(o[0])!;
    e.seq = ++this.#seq;
    this.#push(o[0], e.seq);
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [key, e] of this.#map) yield [key, e.value];
  }

  #push(key: string, seq: number): void {
    this.#keys.push(key);
    this.#seqs.push(seq);
    // Keep the queue within a small multiple of the live keys: drop the consumed head, then stale entries.
    if (this.#keys.length > 2 * this.#map.size + 1024) this.#compact();
  }

  #compact(): void {
    const keys: string[] = [];
    const seqs: number[] = [];
    for (let i = this.#head; i < this.#keys.length; i++) {
      const key = this.#keys[i]!;
      if (this.#map.get(key)?.seq === this.#seqs[i]) {
        keys.push(key);
        seqs.push(this.#seqs[i]!);
      }
    }
    this.#keys = keys;
    this.#seqs = seqs;
    this.#head = 0;
  }
}
