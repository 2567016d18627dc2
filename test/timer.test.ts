import { join } from 'node:path';
import t from 'tap';
import { openDatabase } from '../src/store/database.js';
import { DeadlineRepo } from '../src/store/deadline-repo.js';
import { Scheduler } from '../src/timer/scheduler.js';
import { Timers } from '../src/timer/timers.js';
import { TimerWheel } from '../src/timer/wheel.js';
import { ManualClock, ManualTimers } from './helpers/in-process.js';

t.test('the wheel fires each entry once, at its tick, in due order', async (t) => {
  const wheel = new TimerWheel<string>({ tickMs: 100, slots: 64, now: 1_000 });
  const fired: string[] = [];
  wheel.schedule(1_450, 'c');
  wheel.schedule(1_150, 'a');
  wheel.schedule(1_200, 'b');
  wheel.schedule(500, 'past');
  t.equal(wheel.size, 4);
  t.equal(wheel.advance(1_099, (p) => fired.push(p)), 1, 'a past due time fires on the next advance');
  t.same(fired, ['past']);
  wheel.advance(1_199, (p) => fired.push(p));
  t.same(fired, ['past'], 'not before its tick (1150 rounds up to 1200)');
  wheel.advance(1_200, (p) => fired.push(p));
  t.same(fired, ['past', 'a', 'b']);
  wheel.advance(10_000, (p) => fired.push(p));
  t.same(fired, ['past', 'a', 'b', 'c']);
  t.equal(wheel.size, 0);
  wheel.advance(20_000, (p) => fired.push(p));
  t.equal(fired.length, 4, 'never twice');
});

t.test('cancel is O(1) and stale handles are harmless', async (t) => {
  const wheel = new TimerWheel<number>({ tickMs: 10, slots: 16, now: 0 });
  const h1 = wheel.schedule(50, 1);
  const h2 = wheel.schedule(50, 2);
  const h3 = wheel.schedule(50, 3);
  t.ok(wheel.cancel(h2));
  t.notOk(wheel.cancel(h2), 'cancelling twice');
  const fired: number[] = [];
  wheel.advance(50, (p) => fired.push(p));
  t.same(fired.sort(), [1, 3]);
  t.notOk(wheel.cancel(h1), 'cancelling a fired entry');
  const h4 = wheel.schedule(100, 4); // reuses a freed index
  t.notOk(wheel.cancel(h3), 'a stale handle does not cancel the new entry in its place');
  t.ok(wheel.cancel(h4));
});

t.test('the horizon is enforced; long stalls fire everything; self-rescheduling cannot loop', async (t) => {
  const wheel = new TimerWheel<number>({ tickMs: 1000, slots: 8, now: 0 });
  t.equal(wheel.horizonMs, 7000);
  t.throws(() => wheel.schedule(8_001, 0), RangeError);
  for (let i = 0; i < 8; i++) wheel.schedule(i * 1000, i);
  const fired: number[] = [];
  let reschedules = 0;
  wheel.advance(1_000_000, (p) => {
    fired.push(p);
    if (reschedules++ < 3) wheel.schedule(0, 100 + p); // "now", from inside fire
  });
  t.same(fired, [0, 1, 2, 3, 4, 5, 6, 7], 'a stall of many revolutions fires all, in due order');
  t.equal(wheel.size, 3, 'entries scheduled while firing wait for the next advance');
  wheel.schedule(1_000_000 + 7_000, 9);
  wheel.advance(1_001_000, (p) => fired.push(p));
  t.same(fired.slice(8), [100, 101, 102]);
});

t.test('an error in one callback does not stop the others', async (t) => {
  const wheel = new TimerWheel<number>({ tickMs: 1, slots: 8, now: 0 });
  for (let i = 0; i < 3; i++) wheel.schedule(1, i);
  const fired: number[] = [];
  t.throws(
    () =>
      wheel.advance(5, (p) => {
        fired.push(p);
        if (p === 1) throw new Error('boom');
      }),
    { message: 'boom' },
  );
  t.equal(fired.length, 3);
});

t.test('a million entries: scheduling and cancelling stay cheap', async (t) => {
  const wheel = new TimerWheel<number>({ tickMs: 1000, slots: 4096, now: 0 });
  const handles: number[] = [];
  for (let i = 0; i < 1_000_000; i++) handles.push(wheel.schedule((i % 3600) * 1000, i));
  for (let i = 0; i < 1_000_000; i += 2) wheel.cancel(handles[i] as number);
  t.equal(wheel.size, 500_000);
  let n = 0;
  wheel.advance(3_600_000, () => n++);
  t.equal(n, 500_000);
});

t.test('Timers arm one host timer of one tick, only while something is pending', async (t) => {
  const clock = new ManualClock(0);
  const armed: number[] = [];
  const host = new ManualTimers();
  const recording = { setTimeout: (fn: () => void, ms: number) => (armed.push(ms), host.setTimeout(fn)), clearTimeout: (h: unknown) => host.clearTimeout(h) };
  const fired: string[] = [];
  const timers = new Timers<string>({ clock, tickMs: 1000, slots: 64, fire: (p) => fired.push(p), onError: () => {}, host: recording });
  timers.start();
  t.same(armed, [], 'idle: no host timer');
  timers.schedule(30_000, 'x');
  t.same(armed, [1000]);
  clock.advance(30_000);
  host.fire();
  t.same(fired, ['x']);
  host.fire();
  t.ok(armed.every((ms) => ms === 1000 && ms < 2 ** 31 - 1), 'never a long host timer');
  const before = armed.length;
  host.fire();
  t.equal(armed.length, before, 'idle again: nothing re-armed');
  clock.advance(10 * 86_400_000);
  t.doesNotThrow(() => timers.schedule(clock.now() + 60_000, 'after a long idle'), 'the horizon is measured from now');
});

t.test('Scheduler: durable deadlines survive restarts and wait in SQLite until near', async (t) => {
  const path = join(t.testdir(), 'stbd.db');
  const db = openDatabase(path, { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  const store = new DeadlineRepo(db);
  const clock = new ManualClock(0);
  const host = new ManualTimers();
  const errors: unknown[] = [];
  const make = () => new Scheduler({ clock, store, host, tickMs: 1000, slots: 1024, onError: (e) => errors.push(e) });
  const DAY = 86_400_000;

  let s = make();
  const seen: string[] = [];
  s.handle('recycle', (key) => void seen.push(key));
  await s.start();
  // As a repository's unit of work does: the row first, then the scheduler told.
  const set = (key: string, dueAt: number) => (store.put({ kind: 'recycle', key, dueAt }), s.stored('recycle', key, dueAt));
  set('far', 30 * DAY);
  set('near', 60_000);
  set('moved', 120_000);
  set('moved', 40 * DAY);
  set('cleared', 90_000);
  store.delete('recycle', 'cleared');
  s.removed('recycle', 'cleared');
  clock.advance(60_000);
  s.tick();
  t.same(seen, ['near']);
  t.same((await store.dueBefore(Infinity, 10)).map((d) => d.key), ['far', 'moved'], 'fired deadlines are deleted; far ones stay in SQLite');
  s.stop();

  // "Restart" 30 days later: the overdue deadline fires at start; the moved one still waits.
  clock.advance(30 * DAY);
  s = make();
  s.handle('recycle', (key) => void seen.push(key));
  await s.start();
  s.tick();
  t.same(seen, ['near', 'far']);
  // Ten more days pass with the daemon up: refills bring the moved deadline near, then it fires.
  for (let i = 0; i < 10 * 24 * 4; i++) {
    clock.advance(15 * 60_000);
    host.fire();
    await new Promise((r) => setImmediate(r)); // a refill reads the store asynchronously
  }
  t.same(seen, ['near', 'far', 'moved']);
  t.same(await store.dueBefore(Infinity, 10), []);
  t.same(errors, []);
  s.stop();
});

t.test('Scheduler: a failing handler keeps its deadline and is tried again', async (t) => {
  const db = openDatabase(join(t.testdir(), 'stbd.db'), { synchronous: 'normal', busyTimeoutMs: 1000 });
  t.teardown(() => db.close());
  const store = new DeadlineRepo(db);
  const clock = new ManualClock(0);
  const host = new ManualTimers();
  const errors: unknown[] = [];
  const s = new Scheduler({ clock, store, host, tickMs: 1000, slots: 64, onError: (e) => errors.push(e) });
  let attempts = 0;
  s.handle('cas', async () => {
    attempts++;
    if (attempts < 3) throw new Error('CAS down');
  });
  await s.start();
  store.put({ kind: 'cas', key: 'dev-1', dueAt: 1000 });
  s.stored('cas', 'dev-1', 1000);
  for (let i = 0; i < 200 && attempts < 3; i++) {
    clock.advance(1000);
    host.fire();
    await new Promise((r) => setImmediate(r));
  }
  t.equal(attempts, 3);
  t.equal(errors.length, 2);
  await new Promise((r) => setImmediate(r));
  t.same(await store.dueBefore(Infinity, 10), [], 'deleted once the handler succeeded');
  s.stop();
});
