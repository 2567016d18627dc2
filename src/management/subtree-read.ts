import type { ParameterValue } from './cwmp-soap.js';

/** The RPC a subtree read needs next. */
export type SubtreeStep = { readonly kind: 'names'; readonly path: string } | { readonly kind: 'values'; readonly names: readonly string[] };

const isPartial = (name: string): boolean => name === '' || name.endsWith('.');

/** Does a GetParameterValues of these names ask for a subtree (a partial path, or '' for everything)? */
export const readsSubtree = (names: readonly string[]): boolean => names.some(isPartial);

/**
 * A GetParameterValues for CPEs that cannot answer one with partial paths: each partial path is listed with
 * GetParameterNames (NextLevel false), then the leaves are read with GetParameterValues in batches. Pure: the
 * session feeds it the CPE's answers and sends the steps it returns.
 */
export class SubtreeRead {
  readonly #paths: string[];
  readonly #leaves: string[];
  readonly #batch: number;
  readonly #values: ParameterValue[] = [];
  #next = 0;

  constructor(names: readonly string[], batchSize: number) {
    this.#paths = names.filter(isPartial);
    this.#leaves = names.filter((n) => !isPartial(n));
    this.#batch = Math.max(1, batchSize);
  }

  /** The next RPC to send, or undefined once every value is read. */
  step(): SubtreeStep | undefined {
    const path = this.#paths.shift();
    if (path !== undefined) return { kind: 'names', path };
    if (this.#next >= this.#leaves.length) return undefined;
    const names = this.#leaves.slice(this.#next, this.#next + this.#batch);
    this.#next += names.length;
    return { kind: 'values', names };
  }

  /** A GetParameterNamesResponse: its leaves are read next (objects, ending in '.', are not values). */
  names(found: readonly string[]): void {
    const known = new Set(this.#leaves);
    for (const n of found) {
      if (!isPartial(n) && !known.has(n)) {
        known.add(n);
        this.#leaves.push(n);
      }
    }
  }

  /** A GetParameterValuesResponse. */
  values(values: readonly ParameterValue[]): void {
    this.#values.push(...values);
  }

  get result(): readonly ParameterValue[] {
    return this.#values;
  }
}
