import t from 'tap';
import { offlineSlice } from '../src/keepalive/offline-sweep.js';

/** The slots each of `ticks` sweeps looks at, from the start. */
function sweep(slots: number, ticks: number): number[] {
  const seen = new Array<number>(slots).fill(0);
  let cursor = 0;
  for (let i = 0; i < ticks; i++) {
    const [from, to] = offlineSlice(cursor, slots);
    for (let s = from; s < to; s++) seen[s]!++;
    cursor = to;
  }
  return seen;
}

t.test('a million devices: every slot once in 8 ticks (a second), then again', async (t) => {
  const once = sweep(1_000_000, 8);
  t.equal(once.filter((n) => n !== 1).length, 0, 'each slot looked at exactly once');
  const twice = sweep(1_000_000, 16);
  t.equal(twice.filter((n) => n !== 2).length, 0, 'and once more in the next second');
});

t.test('a small table is swept whole every tick; an empty one costs nothing', async (t) => {
  t.same(offlineSlice(0, 1000), [0, 1000]);
  t.same(offlineSlice(1000, 1000), [0, 1000], 'from the start again');
  t.same(offlineSlice(0, 0), [0, 0]);
});

t.test('slots added between ticks are reached', async (t) => {
  const [, to] = offlineSlice(0, 200_000);
  t.same(offlineSlice(to, 400_000), [to, to + 50_000], 'the slice grows with the table');
});
