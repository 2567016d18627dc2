import t from 'tap';
import { CwmpAgent, type InformEvent } from '../src/sim/cwmp-agent.js';
import { periodicDelay, phaseOf } from '../src/sim/periodic-schedule.js';
import { retryAfterMs } from '../src/sim/retry-after.js';
import { SessionError } from '../src/sim/session-http.js';

/** A scripted session function: each call waits until the test settles it. */
function sessions() {
  const calls: { events: readonly InformEvent[]; retryCount: number; settle: (ok: boolean) => void }[] = [];
  const waiters: (() => void)[] = [];
  return {
    calls,
    session: (events: readonly InformEvent[], retryCount: number) =>
      new Promise<void>((resolve, reject) => {
        calls.push({ events, retryCount, settle: (ok) => (ok ? resolve() : reject(new Error('failed'))) });
        waiters.splice(0).forEach((w) => w());
      }),
    /** Resolves when the n-th call (1-based) has been made. */
    async call(n: number) {
      while (calls.length < n) await new Promise<void>((r) => waiters.push(r));
      return calls[n - 1]!;
    },
  };
}

// The agent's timers are unref'd (a simulator's sockets keep the process alive): keep it alive here.
const keepAlive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(keepAlive));

const codes = (events: readonly InformEvent[]) => events.map((e) => e.code);

t.test('one session at a time; a trigger during a session runs one more after it', async (t) => {
  const s = sessions();
  const agent = new CwmpAgent({ session: s.session, abort: () => {}, random: () => 0, retryDelayMs: 1 });
  agent.start();
  t.teardown(() => agent.stop());
  agent.trigger({ code: '1 BOOT', commandKey: '' });
  const first = await s.call(1);
  agent.trigger({ code: '6 CONNECTION REQUEST', commandKey: '' });
  agent.trigger({ code: '6 CONNECTION REQUEST', commandKey: '' });
  t.equal(s.calls.length, 1, 'not while one runs');
  first.settle(true);
  const second = await s.call(2);
  t.same(codes(second.events), ['6 CONNECTION REQUEST'], 'the coalesced triggers, once');
  second.settle(true);
  await agent.idle();
  t.same(agent.pending, []);
  t.equal(s.calls.length, 2);
});

t.test('a failed session keeps its events and is retried with backoff and RetryCount', async (t) => {
  const s = sessions();
  const agent = new CwmpAgent({ session: s.session, abort: () => {}, random: () => 0.5, retryDelayMs: 2 });
  agent.start();
  t.teardown(() => agent.stop());
  agent.trigger({ code: '0 BOOTSTRAP', commandKey: '' }, { code: '1 BOOT', commandKey: '' });
  (await s.call(1)).settle(false);
  const retry = await s.call(2);
  t.same(codes(retry.events), ['0 BOOTSTRAP', '1 BOOT']);
  t.equal(retry.retryCount, 1);
  agent.queue({ code: 'M Reboot', commandKey: 'a' });
  agent.queue({ code: 'M Reboot', commandKey: 'b' });
  retry.settle(false);
  const third = await s.call(3);
  t.equal(third.retryCount, 2);
  t.same(third.events.at(-1), { code: 'M Reboot', commandKey: 'b' }, 'one copy, the latest CommandKey');
  third.settle(true);
  await agent.idle();
  t.equal(agent.retryCount, 0);
  t.same(agent.pending, []);
});

t.test('periodic Informs; stop aborts the session in flight; discard', async (t) => {
  const s = sessions();
  let aborted = 0;
  const agent = new CwmpAgent({ session: s.session, abort: () => aborted++, random: () => 0, retryDelayMs: 1000 });
  agent.setPeriodic(true, 5);
  agent.start();
  const periodic = await s.call(1);
  t.same(codes(periodic.events), ['2 PERIODIC']);
  agent.queue({ code: '6 CONNECTION REQUEST', commandKey: '' });
  agent.discard(['6 CONNECTION REQUEST']);
  t.same(codes(agent.pending), ['2 PERIODIC'], 'the one in flight stays');
  const stopped = agent.stop();
  t.equal(aborted, 1);
  periodic.settle(false);
  await stopped;
  t.same(codes(agent.pending), ['2 PERIODIC'], 'kept for after the restart');
  agent.setPeriodic(false, 5);
  agent.trigger({ code: '1 BOOT', commandKey: '' });
  t.equal(s.calls.length, 1, 'no session while stopped');
  agent.start();
  const resumed = await s.call(2);
  t.same(codes(resumed.events), ['2 PERIODIC', '1 BOOT'], 'a pending retry resumes at start');
  resumed.settle(true);
  await agent.stop();
});

t.test('PeriodicInformTime: Informs at the phase plus or minus whole intervals; the Unknown Time sets no phase', async (t) => {
  const H = 3_600_000;
  const now = Date.parse('2026-03-01T10:20:00Z');
  t.equal(phaseOf('0001-01-01T00:00:00Z'), undefined);
  t.equal(phaseOf('not a time'), undefined);
  t.equal(phaseOf('2026-01-01T00:45:00Z'), Date.parse('2026-01-01T00:45:00Z'));
  t.equal(periodicDelay(now, H, undefined), H, 'no phase: an interval from now');
  t.equal(periodicDelay(now, H, Date.parse('2026-01-01T00:45:00Z')), 25 * 60_000, 'a phase in the past: :45 of this hour');
  t.equal(periodicDelay(now, H, Date.parse('2030-06-01T07:05:00Z')), 45 * 60_000, 'a phase in the future: :05 of the next hour');
  t.equal(periodicDelay(now, H, now), H, 'right at the phase: the next one');
  t.equal(periodicDelay(now, 86_400_000, Date.parse('2025-12-31T10:20:30Z')), 30_000);

  let clock = now;
  const s = sessions();
  const agent = new CwmpAgent({ session: s.session, abort: () => undefined, random: () => 0, retryDelayMs: 1000, now: () => clock });
  agent.setPeriodic(true, H, Date.parse('2026-01-01T00:45:00Z'));
  agent.start();
  t.equal(agent.nextPeriodicAt, Date.parse('2026-03-01T10:45:00Z'));
  clock += 60_000;
  agent.setPeriodic(true, 10, clock + 5);
  t.equal(agent.nextPeriodicAt, clock + 5, 'a new PeriodicInformTime re-aligns the timer');
  const periodic = await s.call(1);
  t.same(codes(periodic.events), ['2 PERIODIC']);
  periodic.settle(true);
  agent.setPeriodic(false, 10);
  t.equal(agent.nextPeriodicAt, undefined);
  await agent.stop();
});

t.test('an ACS that answered with Retry-After is not called again before it (503 while it sheds load)', async (t) => {
  const s = sessions();
  let failWith: Error = new SessionError('Inform: HTTP 503', 300);
  const session = (events: readonly InformEvent[], retryCount: number) => s.session(events, retryCount).catch(() => Promise.reject(failWith));
  const agent = new CwmpAgent({ session, abort: () => {}, random: () => 0, retryDelayMs: 1 });
  agent.start();
  t.teardown(() => agent.stop());
  agent.trigger({ code: '1 BOOT', commandKey: '' });
  (await s.call(1)).settle(false);
  const failedAt = performance.now();
  const retry = await s.call(2);
  // Timers never fire early: without Retry-After the backoff (1-2 ms here) would have retried at once.
  t.ok(performance.now() - failedAt >= 299, `retried ${Math.round(performance.now() - failedAt)} ms later, not before the 300 ms asked`);
  t.same(codes(retry.events), ['1 BOOT']);
  failWith = new SessionError('Inform: HTTP 500');
  retry.settle(false);
  const again = performance.now();
  (await s.call(3)).settle(true);
  t.ok(performance.now() - again < 299, 'a failure without Retry-After keeps the backoff alone');
  await agent.idle();
});

t.test('Retry-After: delay-seconds or an HTTP-date, from when the answer came', async (t) => {
  const now = Date.parse('2026-12-07T18:00:00Z');
  t.equal(retryAfterMs('30', now), 30_000);
  t.equal(retryAfterMs(' 0 ', now), 0);
  t.equal(retryAfterMs('Mon, 07 Dec 2026 18:01:00 GMT', now), 60_000);
  t.equal(retryAfterMs('Mon, 07 Dec 2026 17:59:00 GMT', now), 0, 'a date already past: at once');
  t.equal(retryAfterMs(undefined, now), undefined);
  t.equal(retryAfterMs('soon', now), undefined);
  t.equal(retryAfterMs('-5', now), undefined);
});
