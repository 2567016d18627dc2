/** One input's outcome in a group. */
export type Settled<O> = { readonly ok: true; readonly value: O } | { readonly ok: false; readonly error: unknown };

export interface GroupCommitOptions<I> {
  /** Most inputs in one group. */
  readonly maxGroup: number;
  /** Inputs with one key never share a group: a later one waits for the next, in arrival order. */
  readonly key: (input: I) => string;
  /**
   * Awaited before a group is taken, so that inputs arriving meanwhile join it. A store whose commit is
   * synchronous (SQLite) lets nothing arrive while it commits, so it waits one turn of the event loop here
   * (the requests read in the same turn join); absent: the group is taken at once.
   */
  readonly gather?: () => Promise<void>;
}

/**
 * Group commit: units of work that arrive while one group is being committed wait and are committed
 * together in the next, so a store that pays per transaction (round trips, a WAL flush) pays once for many.
 * A unit that arrives when nothing runs starts at once, so no unit waits longer than one group's commit.
 * `commit` returns one outcome per input, in order; should it throw, every input of the group fails with it.
 */
interface Waiting<I, O> {
  readonly input: I;
  readonly resolve: (o: O) => void;
  readonly reject: (e: unknown) => void;
}

export class GroupCommit<I, O> {
  readonly #waiting: Waiting<I, O>[] = [];
  #running = false;

  constructor(
    private readonly commit: (inputs: readonly I[]) => Promise<ReadonlyArray<Settled<O>>>,
    private readonly options: GroupCommitOptions<I>,
  ) {}

  submit(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ input, resolve, reject });
      if (!this.#running) void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length > 0) {
        if (this.options.gather) await this.options.gather();
        const group = this.#nextGroup();
        let outcomes: ReadonlyArray<Settled<O>>;
        try {
          outcomes = await this.commit(group.map((g) => g.input));
        } catch (error) {
          outcomes = group.map(() => ({ ok: false, error }));
        }
        group.forEach((g, i) => {
          const o = outcomes[i];
          if (o === undefined) g.reject(new Error('group commit: no outcome for an input'));
          else if (o.ok) g.resolve(o.value);
          else g.reject(o.error);
        });
      }
    } finally {
      this.#running = false;
    }
  }

  /** The oldest waiting inputs with distinct keys, up to maxGroup; the rest keep their order. */
  #nextGroup(): Waiting<I, O>[] {
    const keys = new Set<string>();
    const group: Waiting<I, O>[] = [];
    const rest: Waiting<I, O>[] = [];
    for (const w of this.#waiting) {
      const k = this.options.key(w.input);
      if (group.length < this.options.maxGroup && !keys.has(k)) {
        keys.add(k);
        group.push(w);
      } else rest.push(w);
    }
    this.#waiting.splice(0, this.#waiting.length, ...rest);
    return group;
  }
}
