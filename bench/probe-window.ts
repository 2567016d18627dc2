/** A window of the keepalive probe (bench/keepalive-probe.ts): its round trips and their figures. */
export interface ProbeWindow {
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Every round trip of the window, in ms (so that windows can be pooled). */
  readonly roundTripsMs: readonly number[];
}

/** The figures of these round trips (ms), in any order. */
export function probeWindowOf(roundTripsMs: readonly number[]): ProbeWindow {
  const s = [...roundTripsMs].sort((a, b) => a - b);
  const q = (f: number) => Number((s[Math.min(s.length - 1, Math.floor(f * s.length))] ?? NaN).toFixed(2));
  return { samples: s.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: q(1), roundTripsMs: s };
}

/** The figures alone, for a report. */
export const figuresOf = ({ roundTripsMs: _, ...figures }: ProbeWindow): Omit<ProbeWindow, 'roundTripsMs'> => figures;
