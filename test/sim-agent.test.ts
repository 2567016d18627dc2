import t from 'tap';
import { CwmpAgent, type InformEvent } from '../src/sim/cwmp-agent.js';

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
