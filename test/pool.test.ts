import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { FakeCas } from './helpers/fake-cas.js';
import { startInProcess, until } from './helpers/in-process.js';

const HOUR = 3_600_000;

async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, pool: Record<string, number | string> = {}) {
  const dir = t.testdir();
  const cas = await FakeCas.start('cas-secret-0123456789');
  t.teardown(() => cas.stop());
  writeFileSync(join(dir, 'cas.token'), 'cas-secret-0123456789\n', { mode: 0o600 });
  const d = await startInProcess(dir, {
    pool: { max_bound_per_account: 2, max_pooled_per_account: 2, recycle_after: '1h', ...pool },
    cas: { kind: 'http', url: cas.url, token_file: join(dir, 'cas.token'), timeout: '300ms' },
  });
  t.teardown(() => d.daemon.stop());
  const bss = readFileSync(join(dir, 'bss.token'), 'utf8').trim();
  for (const id of ['stb-1', 'stb-2', 'stb-3', 'stb-4', 'stb-5']) await d.api('POST', '/v1/devices', { json: { id } });
  const bind = (account: string, device: string) => d.api('PUT', `/v1/accounts/${encodeURIComponent(account)}/devices/${encodeURIComponent(device)}`, { token: bss });
  const unbind = (account: string, device: string) => d.api('DELETE', `/v1/accounts/${encodeURIComponent(account)}/devices/${encodeURIComponent(device)}`, { token: bss });
  const pool_ = async (account?: string) => (await d.api('GET', `/v1/pool${account ? `?account=${account}` : ''}`, { token: bss })).body.entries as { device: string; state: string; lastError: string | null }[];
  return { d, cas, bss, bind, unbind, pool: pool_ };
}

t.test('seed 000, steps 1–7, each with its answer', async (t) => {
  const { d, cas, bind, unbind, pool } = await setup(t);

  // Step 4: not in the pool → the CAS registers it.
  const first = await bind('acct-A', 'stb-1');
  t.same([first.status, first.body], [200, { result: 'registered' }]);
  t.equal(cas.effects.registrations, 1);
  t.same(await bind('acct-A', 'stb-1').then((r) => r.body), { result: 'registered' }, 'the same bind again is idempotent');
  t.equal(cas.effects.registrations, 1, 'and touches the CAS no more');

  // Step 1: threshold 1.
  t.equal((await bind('acct-A', 'stb-2')).body.result, 'registered');
  const over = await bind('acct-A', 'stb-3');
  t.same([over.status, over.body.error], [409, 'account-limit']);
  t.equal(cas.effects.registrations, 2, 'a refused bind registers nothing');

  const elsewhere = await bind('acct-B', 'stb-1');
  t.same([elsewhere.status, elsewhere.body.error], [409, 'bound-elsewhere']);

  // Steps 5–6: unbind parks the device in the pool with its recycle time.
  const now = d.clock.now();
  const un = await unbind('acct-A', 'stb-1');
  t.same([un.status, un.body], [200, { result: 'unbound', recycleAt: new Date(now + HOUR).toISOString() }]);
  t.same((await unbind('acct-A', 'stb-1')).body.error, 'not-bound');
  t.same((await unbind('acct-B', 'stb-2')).body.error, 'not-bound', 'only the account it is bound to may unbind it');
  t.same((await pool('acct-A')).map((e) => [e.device, e.state]), [['stb-1', 'pooled']]);

  // Steps 2–3: a pooled device is confirmed at once, for any account, without the CAS.
  const again = await bind('acct-B', 'stb-1');
  t.same([again.status, again.body], [200, { result: 'confirmed' }]);
  t.equal(cas.effects.registrations, 2);
  t.same(await pool(), [], 'and leaves the pool');
  t.equal(cas.calls.filter((c) => c.path === '/deregistrations').length, 0, 'its certificate was never deregistered');

  // Step 5: threshold 2.
  t.equal((await unbind('acct-A', 'stb-2')).status, 200);
  t.equal((await bind('acct-A', 'stb-3')).body.result, 'registered');
  t.equal((await unbind('acct-A', 'stb-3')).status, 200);
  t.equal((await bind('acct-A', 'stb-4')).body.result, 'registered');
  const full = await unbind('acct-A', 'stb-4');
  t.same([full.status, full.body.error], [409, 'pool-limit']);
  t.same((await pool('acct-A')).map((e) => e.device), ['stb-2', 'stb-3']);

  // Step 7: after the buffer time the CAS deregisters, and only then does the entry go.
  cas.mode = 'fail';
  d.clock.advance(HOUR + 1000);
  t.ok(await until(d, async () => (await pool('acct-A')).every((e) => e.state === 'deregistering' && e.lastError)), 'CAS down: the entries wait, with the error');
  t.equal(cas.effects.deregistrations, 0);
  cas.mode = 'ok';
  t.ok(await until(d, async () => (await pool()).length === 0, 60_000), 'CAS back: all recycled');
  t.equal(cas.effects.deregistrations, 2, 'exactly one effective deregistration each');

  const history = (await d.api('GET', '/v1/pool/history?device=stb-2')).body.events.map((e: { event: string }) => e.event);
  t.same(history, ['recycled', 'recycling', 'unbound', 'bound', 'registering']);
  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.match(metrics, /^stbd_pool_binds_total\{result="account-limit"\} 1$/m);
  t.match(metrics, /^stbd_pool_recycled_total 2$/m);
  t.match(metrics, /^stbd_pool_entries 0$/m);
});

t.test('the CAS unavailable: bind refused, nothing bound, the uncertain registration withdrawn', async (t) => {
  const { d, cas, bind } = await setup(t);
  cas.mode = 'hang';
  const r = await bind('acct-A', 'stb-5');
  t.same([r.status, r.body.error], [503, 'cas-unavailable']);
  t.same((await d.api('GET', '/v1/accounts/acct-A')).body.bound, []);
  cas.mode = 'ok';
  const compensated = async () => (await d.api('GET', '/v1/pool/history?device=stb-5')).body.events.some((e: { event: string }) => e.event === 'compensated');
  t.ok(await until(d, compensated, 60_000), 'a compensating deregistration went out and was confirmed (retried past the hang)');
  t.ok(cas.calls.some((c) => c.path === '/deregistrations' && c.key?.startsWith('compensate:')));
  t.equal((await bind('acct-A', 'stb-5')).body.result, 'registered', 'and the device can be bound afterwards');
});

t.test('limits hold under concurrency: 100 parallel binds for one account', async (t) => {
  const { d, bind } = await setup(t);
  const ids = Array.from({ length: 100 }, (_, i) => `par-${i}`);
  await d.api('POST', '/v1/devices/import', { body: `id\n${ids.join('\n')}\n` });
  const results = await Promise.all(ids.map((id) => bind('acct-P', id)));
  t.equal(results.filter((r) => r.status === 200).length, 2, 'threshold 1 = 2');
  t.equal(results.filter((r) => r.body.error === 'account-limit').length, 98);
  t.equal((await d.api('GET', '/v1/accounts/acct-P')).body.bound.length, 2);
});

t.test('tokens and bad input', async (t) => {
  const { d, bss, bind } = await setup(t);
  t.equal((await d.api('GET', '/v1/devices', { token: bss })).status, 403, 'a BSS token cannot call admin endpoints');
  t.equal((await d.api('GET', '/v1/pool')).status, 200, 'the admin token can call BSS endpoints');
  const unknown = await bind('acct-A', 'no-such-device');
  t.same([unknown.status, unknown.body.error], [400, 'unknown-device']);
  t.equal((await bind('a'.repeat(129), 'stb-1')).status, 400, 'oversize account');
  t.equal((await bind('', 'stb-1')).status, 400, 'empty account');
  t.equal((await bind('acct-A', 'x'.repeat(257))).status, 400, 'oversize device id');
  t.equal((await bind(' padded', 'stb-1')).status, 400, 'account with white space at the end');
  t.same((await d.api('GET', '/v1/pool/history')).body.events, [], 'nothing happened');
});

t.test('with the builtin CAS (the default): registration issues a certificate, recycling revokes it', async (t) => {
  const d = await startInProcess(t.testdir(), { pool: { recycle_after: '1h' } });
  t.teardown(() => d.daemon.stop());
  await d.api('POST', '/v1/devices', { json: { id: 'stb-b1' } });
  t.same((await d.api('PUT', '/v1/accounts/acct/devices/stb-b1')).body, { result: 'registered' });
  const bound = (await d.api('GET', '/v1/pool/history?device=stb-b1')).body.events[0].detail as string;
  t.match(bound, /^registered by the CAS \(certificate [0-9a-f-]{36}\)$/);
  t.equal((await d.api('DELETE', '/v1/accounts/acct/devices/stb-b1')).status, 200);
  d.clock.advance(3_600_000);
  t.ok(await until(d, async () => (await d.api('GET', '/v1/pool')).body.entries.length === 0, 1000), 'recycled');
  t.match((await d.api('GET', '/v1/pool/history?device=stb-b1')).body.events[0], { event: 'recycled', detail: /^CAS deregistered certificate [0-9a-f-]{36}$/ });
});
