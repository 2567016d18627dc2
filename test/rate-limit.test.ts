import t from 'tap';
import { BoundedTable } from '../src/rate-limit/bounded-table.js';
import { LogThrottle, type LogThrottleLine } from '../src/rate-limit/log-throttle.js';
import { TokenBuckets } from '../src/rate-limit/token-buckets.js';

t.test('a bucket allows its burst, then refills at its rate', async (t) => {
  let now = 1_000_000;
  const b = new TokenBuckets({ ratePerSec: 2, burst: 3, capacity: 10, now: () => now });
  t.ok(b.take('a') && b.take('a') && b.take('a'), 'the burst');
  t.notOk(b.take('a'), 'then empty');
  t.notOk(b.peek('a'));
  t.equal(b.retryAfterMs('a'), 500, 'one token in 1/rate seconds');
  t.ok(b.take('b'), 'another key has its own bucket');
  now += 499;
  t.notOk(b.take('a'), 'not before the token is whole');
  now += 1;
  t.ok(b.peek('a'), 'peek does not take');
  t.ok(b.take('a'));
  t.notOk(b.take('a'));
  now += 60_000;
  t.equal(b.retryAfterMs('a'), 0);
  t.ok(b.take('a') && b.take('a') && b.take('a'), 'refill stops at the burst');
  t.notOk(b.take('a'));
  now -= 10_000;
  t.notOk(b.take('a'), 'a clock stepping back refills nothing');
});

t.test('the table keeps at most capacity keys and forgets the least recent', async (t) => {
  const now = 0;
  const b = new TokenBuckets({ ratePerSec: 0.001, burst: 1, capacity: 2, now: () => now });
  t.ok(b.take('a'));
  t.ok(b.take('b'));
  t.notOk(b.take('a'), 'a touched again: now the most recent');
  t.ok(b.take('c'), 'evicts b, the least recent');
  t.equal(b.size, 2);
  t.notOk(b.take('a'), 'a is still remembered (empty)');
  t.ok(b.take('b'), 'b was forgotten, so it starts full');
});

t.test('bad options are refused', async (t) => {
  const now = () => 0;
  t.throws(() => new TokenBuckets({ ratePerSec: 0, burst: 1, capacity: 1, now }), RangeError);
  t.throws(() => new TokenBuckets({ ratePerSec: 1, burst: 0.5, capacity: 1, now }), RangeError);
  t.throws(() => new TokenBuckets({ ratePerSec: 1, burst: 1, capacity: 0, now }), RangeError);
  t.throws(() => new LogThrottle({ intervalMs: 0, capacity: 1, now, emit: () => {} }), RangeError);
  t.throws(() => new LogThrottle({ intervalMs: 1, capacity: 1.5, now, emit: () => {} }), RangeError);
});

t.test('log lines: the first at once, then one per key per interval with a count', async (t) => {
  let now = 0;
  const lines: LogThrottleLine<string>[] = [];
  const lt = new LogThrottle<string>({ intervalMs: 60_000, capacity: 10, now: () => now, emit: (l) => lines.push(l) });
  lt.record('10.0.0.1', 'wrong password');
  t.same(lines, [{ key: '10.0.0.1', count: 1, detail: 'wrong password', since: 0 }], 'a new source is logged at once');
  lt.record('10.0.0.2', 'unknown user');
  for (let i = 1; i <= 500; i++) {
    now = i * 100;
    lt.record('10.0.0.1', `try ${i}`);
  }
  t.equal(lines.length, 2, 'the flood adds nothing within the minute; another source gets its own line');
  now = 59_999;
  lt.flush();
  t.equal(lines.length, 2, 'not before the minute is over');
  now = 60_000;
  lt.flush();
  t.same(lines.slice(2), [{ key: '10.0.0.1', count: 500, detail: 'try 500', since: 100 }], 'one line with the count; the quiet source emits nothing');
  t.equal(lt.size, 1, 'the quiet source is forgotten');
  now = 70_000;
  lt.record('10.0.0.1', 'again');
  now = 130_000;
  lt.record('10.0.0.1', 'and again');
  t.same(lines.slice(3), [{ key: '10.0.0.1', count: 2, detail: 'and again', since: 70_000 }], 'an event after the interval carries the pending count');
  now = 190_000;
  lt.flush();
  lt.flush();
  t.equal(lines.length, 4, 'nothing pending: nothing emitted');
  t.equal(lt.size, 0);
});

t.test('log lines: a full table emits the evicted count; drain emits everything pending', async (t) => {
  const now = 0;
  const lines: LogThrottleLine<null>[] = [];
  const lt = new LogThrottle<null>({ intervalMs: 1_000, capacity: 2, now: () => now, emit: (l) => lines.push(l) });
  lt.record('a', null);
  lt.record('a', null);
  lt.record('b', null);
  lt.record('b', null);
  lt.record('c', null);
  t.same(lines.map((l) => [l.key, l.count]), [['a', 1], ['b', 1], ['a', 1], ['c', 1]], 'both had events since insertion: each spared once, then a, the oldest, emitted on eviction');
  lt.record('c', null);
  lt.drain();
  t.same(lines.slice(4).map((l) => [l.key, l.count]), [['b', 1], ['c', 1]]);
  t.equal(lt.size, 0);
});

t.test('a flood of new keys into a full table stays cheap, and the oldest quiet key goes first', async (t) => {
  const table = new BoundedTable<number>();
  for (let i = 0; i < 5; i++) table.set(`k${i}`, i);
  table.delete('k1');
  t.same(table.oldest(), ['k0', 0]);
  table.requeueOldest();
  t.same(table.oldest(), ['k2', 2], 'a deleted key is skipped; a requeued one goes to the back');
  table.shift();
  t.same([...table.entries()].map(([k]) => k).sort(), ['k0', 'k3', 'k4']);
  // Churn far past the compaction threshold: the order stays right.
  for (let i = 0; i < 10_000; i++) {
    table.set(`n${i}`, i);
    table.shift();
  }
  t.equal(table.size, 3);
  t.same([...table.entries()].map(([k]) => k), ['n9997', 'n9998', 'n9999']);
  t.same(table.oldest(), ['n9997', 9997]);
  table.clear();
  t.equal(table.oldest(), undefined);
});
