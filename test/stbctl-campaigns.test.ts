import { join } from 'node:path';
import t from 'tap';
import { clientsOf, spawnDaemon, writeTestConfig } from './helpers/daemon.js';

const NTP = 'InternetGatewayDevice.Time.NTPServer1';

t.test('stbctl campaign: create, list, show, pause, resume, cancel; bad input refused and nothing created', async (t) => {
  const dir = t.testdir();
  const config = writeTestConfig(dir);
  const daemon = await spawnDaemon(config);
  t.teardown(() => daemon.stop());
  const { ctl, json, api } = clientsOf(config, daemon, join(dir, 'api.token'));
  // Registered but never online: a started campaign waits for them.
  for (const id of ['box-1', 'box-2', 'box-3']) t.equal((await api('POST', '/v1/devices', { id })).status, 201);

  for (const [args, message] of [
    [['--where', "id LIKE 'box-*'"], /either --firmware FILE_ID or --set/],
    [['--where', "id LIKE 'box-*'", '--set', `${NTP}=x`, '--waves', '50%,10%,100%'], /cumulative percentages/],
    [['--where', "id LIKE 'box-*'", '--set', `${NTP}=x`, '--window', '2-5'], /--window: "2" is not a time HH:MM/],
    [['--where', "id LIKE 'box-*'", '--set', `${NTP}=x`, '--timezone', 'Nowhere/Land'], /is not a time zone/],
    [['--where', "id LIKE 'box-*'", '--set', `${NTP}=x`, '--days', 'someday'], /--days/],
    [['--where', "id LIKE 'box-*'", '--set', `${NTP}=x`, '--stop-failure-rate', '5'], /give a percentage such as 5%/],
  ] as const) {
    const r = await ctl('campaign', 'create', 'bad', ...args);
    t.equal(r.code, 2, `usage error: ${r.stderr}`);
    t.match(r.stderr, message);
  }
  const noFile = await ctl('campaign', 'create', 'fw', '--where', 'online', '--firmware', 'fw-2.0');
  t.equal(noFile.code, 1);
  t.match(noFile.stderr, /no file "fw-2\.0" \(see stbctl file list\)/);
  const badWhere = await ctl('campaign', 'create', 'bad', '--where', 'productClass =', '--set', `${NTP}=x`);
  t.equal(badWhere.code, 2, badWhere.stderr);
  t.equal((await json('campaign', 'list')).out.campaigns.length, 0, 'nothing was created');

  const created = await ctl('campaign', 'create', 'ntp', '--where', "id LIKE 'box-*'", '--set', `${NTP}=ntp.example.net`, '--canary', '1', '--waves', '50%,100%', '--window', '02:00-05:00', '--timezone', 'Europe/Paris', '--days', 'mon-fri');
  t.equal(created.code, 0, created.stderr);
  t.match(created.stdout, /campaign ntp created \(a draft/);
  const again = await ctl('campaign', 'create', 'ntp', '--where', 'online', '--set', `${NTP}=x`);
  t.equal(again.code, 1);
  t.match(again.stderr, /exists already/);

  const started = await ctl('campaign', 'start', 'ntp');
  t.equal(started.code, 0, started.stderr);
  t.match(started.stdout, 'campaign ntp: running');
  const shown = await ctl('campaign', 'show', 'ntp');
  t.equal(shown.code, 0, shown.stderr);
  t.match(shown.stdout, /state\s+running/);
  t.match(shown.stdout, /window\s+02:00-05:00 Europe\/Paris, mon,tue,wed,thu,fri/);
  t.match(shown.stdout, /pending\s+3/);
  t.match(shown.stdout, /canary\s+1\s+1\s+0/, 'per wave: the canary has its one device, pending');
  const listed = await ctl('campaign', 'list');
  t.match(listed.stdout, /ntp\s+running\s+3\s+0\/2\s+set InternetGatewayDevice\.Time\.NTPServer1=ntp\.example\.net/);

  t.match((await ctl('campaign', 'pause', 'ntp')).stdout, 'campaign ntp: paused (paused by the operator)');
  const twice = await ctl('campaign', 'pause', 'ntp');
  t.equal(twice.code, 1);
  t.match(twice.stderr, /the campaign is paused: pause applies to a campaign that is running/);
  t.match((await ctl('campaign', 'resume', 'ntp')).stdout, 'campaign ntp: running');
  t.match((await ctl('campaign', 'cancel', 'ntp')).stdout, 'campaign ntp: cancelled');
  const after = await json('campaign', 'show', 'ntp');
  t.match(after.out, { state: 'cancelled', counts: { pending: 0, cancelled: 3 } });
  const missing = await ctl('campaign', 'show', 'nope');
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no campaign "nope"/);
});
