/** Why a connection was not served. */
export type LimitReason = 'max_connections' | 'max_connections_per_source';

/**
 * What becomes of a new connection: served; shed (kept just long enough to answer its request 503); or
 * refused (closed at once).
 */
export type Admission = { readonly kind: 'served' } | { readonly kind: 'shed' | 'refused'; readonly reason: LimitReason };

const SERVED: Admission = { kind: 'served' };

interface Count {
  served: number;
  all: number;
}

/**
 * Counts a listener's open connections, in total and per source, and decides what becomes of a new one.
 * Past `max` (or `perSource`), a shedding listener keeps up to as many again to answer them 503; beyond
 * that, and on a listener that does not shed, connections are refused. So a listener never holds more
 * than twice its limits in file descriptors.
 */
export class ConnectionLimits {
  #served = 0;
  #all = 0;
  readonly #bySource = new Map<string, Count>();

  constructor(
    private readonly max: number,
    private readonly perSource: number,
    private readonly shedding: boolean,
  ) {}

  /** Connections served now (shed ones not included). */
  get served(): number {
    return this.#served;
  }

  /**
   * What becomes of a new connection from `source` (a sourceKey; undefined: counted in the total only);
   * served and shed ones are counted until `release`.
   */
  admit(source: string | undefined): Admission {
    const s = (source === undefined ? undefined : this.#bySource.get(source)) ?? { served: 0, all: 0 };
    const reason: LimitReason | undefined = this.#served >= this.max ? 'max_connections' : s.served >= this.perSource ? 'max_connections_per_source' : undefined;
    if (reason !== undefined && !(this.shedding && this.#all < 2 * this.max && s.all < 2 * this.perSource)) return { kind: 'refused', reason };
    if (source !== undefined) this.#bySource.set(source, s);
    this.#all++;
    s.all++;
    if (reason !== undefined) return { kind: 'shed', reason };
    this.#served++;
    s.served++;
    return SERVED;
  }

  /** A connection `admit` counted has closed. */
  release(source: string | undefined, admission: Admission): void {
    if (admission.kind === 'refused') return;
    this.#all--;
    if (admission.kind === 'served') this.#served--;
    if (source === undefined) return;
    const s = this.#bySource.get(source);
    if (s === undefined) return;
    s.all--;
    if (admission.kind === 'served') s.served--;
    if (s.all === 0) this.#bySource.delete(source);
  }
}
