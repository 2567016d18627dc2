/**
 * Offline detection sweeps the presence arrays in slices: 1/SLICES of the slots (at least MIN_SLICE) every
 * TICK_MS, so each slot is looked at about once a second and no tick holds the loop for long (a million
 * slots: 125,000 a tick, a fraction of a millisecond).
 */
export const OFFLINE_TICK_MS = 125;
const SLICES = 8;
const MIN_SLICE = 16_384;

/** The slots [from, to) the sweep looks at next, from where it stopped (`cursor`), over `slots` slots. */
export function offlineSlice(cursor: number, slots: number): readonly [from: number, to: number] {
  const from = cursor >= slots ? 0 : cursor;
  return [from, Math.min(slots, from + Math.max(MIN_SLICE, Math.ceil(slots / SLICES)))];
}
