import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { run, STBCTL } from './helpers/daemon.js';
import { FakeCas } from './helpers/fake-cas.js';
import { type InProcessDaemon, startInProcess, until } from './helpers/in-process.js';

const CHECKS = ['store', 'listeners', 'cas', 'ca', 'scheduler'];
const stbctl = (d: InProcessDaemon, token: string, ...args: string[]) => run(STBCTL, ['--api', d.url, '--token', token, 'status', ...args]);

t.test('a fresh daemon is healthy, and stbctl status says so with the token only', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());

  const r = await d.api('GET', '/health', { token: null });
  t.equal(r.status, 200);
  t.equal(r.body.status, 'ok');
  t.same(Object.keys(r.body.checks).sort(), [...CHECKS].sort());
  for (const name of CHECKS) t.equal(r.body.checks[name].status, 'ok', `${name}: ${r.body.checks[name].detail}`);
  t.match(r.body.checks.listeners.detail, /stun 127\.0\.0\.1:\d+, cwmp 127\.0\.0\.1:\d+, certs 127\.0\.0\.1:\d+, api 127\.0\.0\.1:\d+/);
  t.match(r.body.checks.cas.detail, 'builtin CAS');

  t.equal((await d.api('GET', '/v1/status', { token: null })).status, 401, '/v1/status needs the token');

  const wrong = await stbctl(d, 'not-the-token-at-all');
  t.equal(wrong.code, 1);
  t.equal(wrong.stdout, '');
  t.equal(wrong.stderr, 'stbctl: the API refused the token (401): missing or wrong bearer token (see [api] token_file)\n');
  const wrongJson = await stbctl(d, 'not-the-token-at-all', '--json');
  t.equal(wrongJson.code, 1);
  t.same(JSON.parse(wrongJson.stdout), { error: 'unauthorized', message: 'the API refused the token (401): missing or wrong bearer token (see [api] token_file)' });

  const good = await stbctl(d, d.token);
  t.equal(good.code, 0, good.stderr);
  t.match(good.stdout, /^stbd\s+ok \(version .*\) at http:\/\/127\.0\.0\.1:\d+\nuptime\s+\d+ s\ndevices\s+0 registered, 0 online\n\nCHECK\s+STATUS\s+DETAIL\n/);
  for (const name of CHECKS) t.match(good.stdout, new RegExp(`\\n${name}\\s+ok\\s+\\S`), `the table has ${name}`);
  const json = await stbctl(d, d.token, '--json');
  t.equal(json.code, 0);
  t.match(JSON.parse(json.stdout), { status: 'ok', api: d.url, devices: { registered: 0 }, checks: { store: { status: 'ok' } } });
});

t.test('an HTTP CAS that is down makes the daemon degraded, still 200, until a call succeeds', async (t) => {
  const dir = t.testdir();
  const cas = await FakeCas.start('cas-secret-0123456789');
  t.teardown(() => cas.stop());
  writeFileSync(join(dir, 'cas.token'), 'cas-secret-0123456789\n', { mode: 0o600 });
  const d = await startInProcess(dir, { cas: { kind: 'http', url: cas.url, token_file: join(dir, 'cas.token'), timeout: '300ms' } });
  t.teardown(() => d.daemon.stop());
  await d.api('POST', '/v1/devices', { json: { id: 'stb-1' } });
  t.match((await d.api('GET', '/health')).body.checks.cas, { status: 'ok', detail: 'no call to the CAS yet' });

  cas.mode = 'fail';
  const bind = await d.api('PUT', '/v1/accounts/acct-A/devices/stb-1');
  t.equal(bind.status, 503, 'the bind itself is refused: the CAS is down');
  const r = await d.api('GET', '/health', { token: null });
  t.equal(r.status, 200, 'degraded is still in service');
  t.equal(r.body.status, 'degraded');
  t.equal(r.body.checks.cas.status, 'degraded');
  t.match(r.body.checks.cas.detail, /^last call failed 0 s ago: CAS at http:\/\/127\.0\.0\.1:\d+\/registrations answered 503$/);
  t.equal(r.body.checks.store.status, 'ok', 'the other checks are unaffected');

  d.clock.advance(90_000);
  t.match((await d.api('GET', '/health')).body.checks.cas.detail, /^last call failed 90 s ago/, 'the age moves with the clock');
  const ctl = await stbctl(d, d.token);
  t.equal(ctl.code, 1, 'stbctl status exits 1 when degraded');
  t.match(ctl.stdout, /^stbd\s+degraded /);
  t.match(ctl.stdout, /\ncas\s+degraded\s+last call failed 90 s ago/);

  // Back up: the pool's own retry (a compensating deregistration after the failed registration) succeeds.
  cas.mode = 'ok';
  t.ok(await until(d, async () => (await d.api('GET', '/health')).body.checks.cas.status === 'ok', 1000), 'the next CAS call that succeeds clears it');
  const back = await d.api('GET', '/health');
  t.equal(back.body.status, 'ok', JSON.stringify(back.body.checks));
  t.match(back.body.checks.cas.detail, /^last call succeeded \d+ s ago$/);
  t.equal((await d.api('PUT', '/v1/accounts/acct-A/devices/stb-1')).status, 200, 'and binding works again');
});

t.test('a database that refuses writes makes the daemon failing: 503, and stbctl status exits 2', async (t) => {
  const dir = t.testdir();
  // A short busy timeout: the check's write gives up quickly while another connection holds the lock.
  const d = await startInProcess(dir, { store: { busy_timeout: '20ms' } });
  t.teardown(() => d.daemon.stop());

  // Another process's connection (a backup tool, an sqlite3 shell) holding the write lock: real, and root cannot bypass it.
  const other = new BetterSqlite3(join(dir, 'stbd.db'));
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');

  const r = await d.api('GET', '/health', { token: null });
  t.equal(r.status, 503);
  t.equal(r.body.status, 'failing');
  t.equal(r.body.checks.store.status, 'failing');
  t.match(r.body.checks.store.detail, /^the write failed \(SQLITE_BUSY\): database is locked/);
  t.equal(r.body.checks.listeners.status, 'ok');

  const ctl = await stbctl(d, d.token);
  t.equal(ctl.code, 2, 'stbctl status exits 2 when failing');
  t.match(ctl.stdout, /\nstore\s+failing\s+the write failed \(SQLITE_BUSY\)/);
  const ctlJson = await stbctl(d, d.token, '--json');
  t.equal(ctlJson.code, 2);
  t.match(JSON.parse(ctlJson.stdout), { status: 'failing', checks: { store: { status: 'failing' } } });

  other.exec('ROLLBACK');
  const back = await d.api('GET', '/health');
  t.same([back.status, back.body.status, back.body.checks.store.status], [200, 'ok', 'ok'], 'healthy again once the lock is gone');
});
