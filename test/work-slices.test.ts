import t from 'tap';
import { WorkSlices } from '../src/listeners/work-slices.js';

/**
 * A burst of CWMP requests (or a campaign queueing hundreds of tasks) runs in slices of loop time, so a
 * keepalive read between two slices waits for one slice, not for the whole burst; nothing is lost or
 * reordered. The loop is played by hand: `turn()` is the later phase in which deferred slices run.
 */
function harness(budgetMs = 2) {
  let now = 0;
  let deferred: (() => void)[] = [];
  const slices = new WorkSlices(budgetMs, () => now, (fn) => void deferred.push(fn));
  const ran: number[] = [];
  const job = (n: number, costMs: number) => () => {
    ran.push(n);
    now += costMs;
  };
  const turn = () => {
    const fns = deferred;
    deferred = [];
    for (const fn of fns) fn();
  };
  /** As Node runs immediates: the promise continuations of each before the next one. */
  const turnAsync = async () => {
    const fns = deferred;
    deferred = [];
    for (const fn of fns) {
      fn();
      await new Promise((r) => setImmediate(r));
    }
  };
  /** A job like a CWMP request on SQLite: a little synchronous work, the rest in its promise continuations. */
  const asyncJob = (n: number, syncMs: number, laterMs: number) => async () => {
    ran.push(n);
    now += syncMs;
    await null;
    now += laterMs;
  };
  return { slices, ran, job, asyncJob, turn, turnAsync, pendingTurns: () => deferred.length, advance: (ms: number) => (now += ms), now: () => now };
}

t.test('a quiet loop runs each job at once', async (t) => {
  const h = harness();
  h.slices.run(h.job(1, 0.5));
  t.same(h.ran, [1]);
  h.turn();
  h.advance(100);
  h.slices.run(h.job(2, 0.5));
  t.same(h.ran, [1, 2], 'a new turn has its own slice');
  t.equal(h.slices.waiting, 0);
});

t.test('a burst past the budget waits, in arrival order, and runs one slice per later turn', async (t) => {
  const h = harness(2);
  for (let i = 0; i < 10; i++) h.slices.run(h.job(i, 1));
  t.same(h.ran, [0, 1], 'two 1 ms jobs fill a 2 ms slice');
  t.equal(h.slices.waiting, 8);
  h.turn();
  t.same(h.ran, [0, 1, 2, 3], 'the next turn runs the next slice');
  // A job arriving while others wait goes behind them, even though a slice has time.
  h.slices.run(h.job(99, 0));
  t.equal(h.slices.waiting, 7);
  for (let i = 0; i < 10 && h.slices.waiting > 0; i++) h.turn();
  t.same(h.ran, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 99], 'every job ran once, in arrival order');
  t.equal(h.slices.waiting, 0);
});

t.test('a job longer than the budget still runs, alone in its slice', async (t) => {
  const h = harness(2);
  h.slices.run(h.job(1, 50));
  h.slices.run(h.job(2, 50));
  t.same(h.ran, [1]);
  h.turn();
  t.same(h.ran, [1, 2]);
});

t.test('next() lets a long loop give the turn back between slices', async (t) => {
  const h = harness(2);
  const done: number[] = [];
  const loop = (async () => {
    for (let i = 0; i < 6; i++) {
      await h.slices.next();
      done.push(i);
      h.advance(1);
    }
  })();
  await new Promise((r) => setImmediate(r));
  t.same(done, [0, 1], 'one slice of items, then the loop waits for a later turn');
  // Meanwhile a request arrives: it goes behind the loop's waiting item, not before the sockets are read.
  h.slices.run(h.job(7, 0));
  for (let i = 0; i < 10 && done.length < 6; i++) {
    h.turn();
    await new Promise((r) => setImmediate(r));
  }
  await loop;
  t.same(done, [0, 1, 2, 3, 4, 5]);
  t.same(h.ran, [7]);
});

t.test("a waiting job's promise continuations count against its slice", async (t) => {
  const h = harness(2);
  h.slices.run(h.job(0, 5));
  for (let i = 1; i <= 10; i++) h.slices.run(h.asyncJob(i, 0.1, 1));
  t.equal(h.slices.waiting, 10);
  const before = h.now();
  await h.turnAsync();
  // Each took 1.1 ms, 0.1 of it before its first await: a slice that looked only at that would have run all ten.
  t.same(h.ran, [0, 1, 2], 'two jobs fill the 2 ms slice, their continuations included');
  t.ok(h.now() - before <= 2 + 1.1, 'the turn spent its budget and one job past it at most');
  for (let i = 0; i < 10 && h.slices.waiting > 0; i++) await h.turnAsync();
  t.same(h.ran, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'every job ran once, in arrival order');
});

t.test('a backlog larger than the steps of one turn still drains, a slice per turn', async (t) => {
  const h = harness(2);
  h.slices.run(h.job(0, 5));
  for (let i = 1; i <= 300; i++) h.slices.run(h.job(i, 0.01));
  let turns = 0;
  while (h.slices.waiting > 0 && turns < 100) {
    h.turn();
    turns++;
  }
  t.equal(h.ran.length, 301);
  t.same(h.ran, [...h.ran].sort((a, b) => a - b), 'in arrival order');
  t.ok(turns <= 6, `drained in ${turns} turns (64 steps a turn, 0.64 ms of jobs each)`);
});
