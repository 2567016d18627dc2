import t from 'tap';
import { type InProcessDaemon, startInProcess, until } from './helpers/in-process.js';
import { faultXml, gpvResponseXml, informXml, responseXml, TestCpe } from './helpers/test-cpe.js';
import type { ConfigOverrides } from './helpers/daemon.js';
import { unkeyed } from '../src/management/provisioning-fingerprints.js';

const IGD = 'InternetGatewayDevice.ManagementServer.';

async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, overrides: ConfigOverrides = {}) {
  const d = await startInProcess(t.testdir(), overrides);
  t.teardown(() => d.daemon.stop());
  const cwmpUrl = `http://127.0.0.1:${d.daemon.management.address!.port}/acs`;
  return { d, cwmpUrl };
}

async function addDevice(d: InProcessDaemon, id: string) {
  const res = await d.api('POST', '/v1/devices', { json: { id, cwmpPassword: `${id}-pw`, crPassword: `${id}-cr` } });
  if (res.status !== 201) throw new Error(JSON.stringify(res.body));
  return res.body;
}

/** A device on the public internet: its connection-request URL host is where its session comes from. */
const direct = (id: string) => ({ [`${IGD}ConnectionRequestURL`]: `http://127.0.0.1:1/${id}` });

t.test('a session: 401 Digest challenge, Inform → InformResponse in the CPE version, empty POST → 204; the Inform is recorded', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  const challenged = await cpe.post(informXml({ serial: 'S1', params: direct('stb-1') }), { auth: false });
  t.equal(challenged.status, 401);
  t.match(challenged.headers['www-authenticate'], /^Digest realm="stbd", qop="auth"/);
  const informed = await cpe.post(informXml({ serial: 'S1', events: ['1 BOOT'], params: { ...direct('stb-1'), 'InternetGatewayDevice.DeviceInfo.SoftwareVersion': '1.2.3' } }));
  t.equal(informed.status, 200);
  t.match(informed.body, /xmlns:cwmp="urn:dslforum-org:cwmp-1-2"/, 'answers in the CPE namespace');
  t.match(informed.body, /<cwmp:InformResponse><MaxEnvelopes>1<\/MaxEnvelopes>/);
  t.match(informed.body, /<cwmp:ID soap:mustUnderstand="1">inform-1<\/cwmp:ID>/, 'echoes the ID');
  t.equal((await cpe.post('')).status, 204);

  const shown = await d.api('GET', '/v1/devices/stb-1');
  t.same(shown.body.management.lastEvents, ['1 BOOT']);
  t.equal(shown.body.management.behindNat, false);
  t.equal(shown.body.management.dataModel, 'InternetGatewayDevice.');
  t.match(shown.body.management.parameters, [{ name: 'InternetGatewayDevice.DeviceInfo.SoftwareVersion', value: '1.2.3' }, { name: `${IGD}ConnectionRequestURL` }]);
  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.match(metrics, /stbd_cwmp_sessions_total\{result="completed"\} 1/);
});

t.test('CPE authentication: Basic works, a wrong password and an unknown user get 401, and nothing is recorded', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  t.equal((await new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw', 'basic').post(informXml({ serial: 'S1' }))).status, 200);
  t.equal((await new TestCpe(cwmpUrl, 'stb-1', 'wrong').post(informXml({ serial: 'S1' }))).status, 401);
  t.equal((await new TestCpe(cwmpUrl, 'stb-1', 'wrong', 'basic').post(informXml({ serial: 'S1' }))).status, 401);
  t.match(d.logText(), /CWMP session refused: wrong credentials/);
  // Refusals from one source are one line a minute, with a count.
  d.clock.advance(60_000);
  t.equal((await new TestCpe(cwmpUrl, 'nobody', 'x').post(informXml({ serial: 'S9' }))).status, 401);
  t.match(d.logText(), /CWMP session refused 3 times from this source since [^;]+; the last: unknown username/);
  t.equal((await d.api('GET', '/v1/devices/00D09E-STB-S9')).status, 404);
});

t.test('auto_register: an unknown CPE is registered with generated credentials and gets its new CWMP password first', async (t) => {
  const { d, cwmpUrl } = await setup(t, { cwmp: { auto_register: true } });
  const cpe = new TestCpe(cwmpUrl, 'factory-user', 'factory-pw');
  t.equal((await cpe.post(informXml({ serial: 'S7', params: direct('x') }))).status, 200);
  const shown = await d.api('GET', '/v1/devices/00D09E-STB-S7');
  t.equal(shown.status, 200);
  t.equal(shown.body.cwmpUsername, 'factory-user');
  const rpc = await cpe.post('');
  t.match(rpc.body, /<cwmp:SetParameterValues>.*<Name>InternetGatewayDevice\.ManagementServer\.Password<\/Name>/);
  t.notMatch(rpc.body, /factory-pw/);
  const tasks = await d.api('GET', '/v1/devices/00D09E-STB-S7/tasks');
  t.equal(tasks.body.tasks[0].origin, 'provisioning');
  const pushed = tasks.body.tasks[0].request.values as { name: string; value: string }[];
  t.same(pushed.map((v) => v.name.slice(IGD.length)), ['Username', 'Password', 'ConnectionRequestUsername', 'ConnectionRequestPassword'], 'its own CWMP login and connection-request credentials');
  t.equal(pushed.find((v) => v.name.endsWith('.Password'))?.value, '(secret)', 'the API never shows the password');
});

t.test('a queued task goes out in the next session; its answer completes it and updates the known values', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  const queued = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: ['InternetGatewayDevice.Time.NTPServer1'] } });
  t.equal(queued.status, 201);
  t.equal(queued.body.status, 'queued');
  t.match(queued.body.pending, /device offline/, 'no binding and no session yet: says it waits for an Inform');

  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  await cpe.post(informXml({ serial: 'S1', params: direct('stb-1') }));
  const rpc = await cpe.post('');
  t.equal(rpc.status, 200);
  const { id, method } = TestCpe.rpc(rpc.body);
  t.equal(method, 'GetParameterValues');
  t.equal(id, String(queued.body.id));
  t.equal((await d.api('GET', `/v1/tasks/${id}`)).body.status, 'sent');
  const waiting = d.api('GET', `/v1/tasks/${id}?wait=30`);
  const end = await cpe.post(gpvResponseXml(id, { 'InternetGatewayDevice.Time.NTPServer1': 'pool.ntp.org' }));
  t.equal(end.status, 204, 'nothing more queued: the session ends');
  const done = await waiting;
  t.equal(done.body.status, 'done', 'the long poll returns as soon as the answer is in');
  t.same(done.body.result, { parameters: [{ name: 'InternetGatewayDevice.Time.NTPServer1', value: 'pool.ntp.org', type: 'xsd:string' }] });
  const shown = await d.api('GET', '/v1/devices/stb-1');
  t.match(shown.body.management.parameters, [{}, { name: 'InternetGatewayDevice.Time.NTPServer1', value: 'pool.ntp.org' }]);
});

t.test('per-device FIFO across kinds; a CWMP fault finishes the task as fault with its code', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  const a = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'setParameterValues', values: [{ name: 'X.Bad', value: '1' }] } });
  const b = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  await cpe.post(informXml({ serial: 'S1', params: direct('stb-1') }));
  const first = await cpe.post('');
  t.same(TestCpe.rpc(first.body), { id: String(a.body.id), method: 'SetParameterValues' });
  t.match(first.body, /<ParameterKey>stbd-\d+<\/ParameterKey>/);
  const second = await cpe.post(faultXml(String(a.body.id), 9005, 'Invalid parameter name'));
  t.same(TestCpe.rpc(second.body), { id: String(b.body.id), method: 'Reboot' });
  t.equal((await cpe.post(responseXml(String(b.body.id), 'RebootResponse', ''))).status, 204);
  t.match((await d.api('GET', `/v1/tasks/${a.body.id}`)).body, { status: 'fault', fault: { code: 9005, message: 'Invalid parameter name' } });
  t.match((await d.api('GET', `/v1/tasks/${b.body.id}`)).body, { status: 'done', result: {} });
});

t.test('control characters and bare ampersands in an Inform are kept as the CPE sent them; a NUL, which no store holds, as U+FFFD', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  const ssid = 'InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID';
  t.equal((await cpe.post(informXml({ serial: 'S1', params: { ...direct('stb-1'), [ssid]: 'Caf\u0002\u0000&#3;&nbsp; AT&T' } }))).status, 200);
  t.equal((await cpe.post('')).status, 204);
  const shown = await d.api('GET', '/v1/devices/stb-1');
  t.match(shown.body.management.parameters, [{ name: ssid, value: 'Caf\u0002\uFFFD&#3;&nbsp; AT&T' }]);
});

t.test('malformed XML: 400, logged, the session ends and the task in flight is queued again', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'factoryReset' } });
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  await cpe.post(informXml({ serial: 'S1', params: direct('stb-1') }));
  t.equal(TestCpe.rpc((await cpe.post('')).body).method, 'FactoryReset');
  const bad = await cpe.post('<soap:Envelope><soap:Body><unclosed></soap:Body>');
  t.equal(bad.status, 400);
  t.match(bad.body, /malformed XML: 1:\d+: /, 'the answer says where reading stopped');
  t.match(d.logText(), /malformed CWMP body; session ended/);
  t.match((await d.api('GET', `/v1/tasks/${task.body.id}`)).body, { status: 'queued', attempts: 1 });
  t.equal((await cpe.post('')).status, 400, 'the session is over');
  cpe.endSession();
  await cpe.post(informXml({ serial: 'S1', params: direct('stb-1') }));
  t.equal(TestCpe.rpc((await cpe.post('')).body).method, 'FactoryReset', 'sent again in the next session');
  await cpe.post(responseXml(String(task.body.id), 'FactoryResetResponse', ''));
  t.match((await d.api('GET', `/v1/tasks/${task.body.id}`)).body, { status: 'done', attempts: 2 });
});

t.test('a body over [cwmp] body_limit gets 413; a session that goes quiet times out and gives its task back', async (t) => {
  const { d, cwmpUrl } = await setup(t, { cwmp: { body_limit: 4096, session_timeout: '10s' } });
  await addDevice(d, 'stb-1');
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  const big = informXml({ serial: 'S1', params: { 'InternetGatewayDevice.X.Big': 'x'.repeat(5000) } });
  t.equal((await cpe.post(big)).status, 413);
  t.match(d.logText(), /CWMP body over the limit/);

  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterNames', path: 'InternetGatewayDevice.', nextLevel: true } });
  await cpe.post(informXml({ serial: 'S1', params: direct('stb-1') }));
  t.match((await cpe.post('')).body, /<cwmp:GetParameterNames><ParameterPath>InternetGatewayDevice\.<\/ParameterPath><NextLevel>true<\/NextLevel>/);
  d.clock.advance(11_000);
  d.timers.fire();
  t.match(d.logText(), /CWMP session timed out/);
  // The task is given back by a store write the timeout starts: wait for it, not for a fixed time.
  t.ok(await until(d, async () => (await d.api('GET', `/v1/tasks/${task.body.id}`)).body.status === 'queued'), 'given back');
  t.match((await d.api('GET', `/v1/tasks/${task.body.id}`)).body, { status: 'queued', attempts: 1 });
});

t.test('tasks: cancel, expiry, idempotency keys, validation, unknown device', async (t) => {
  const { d } = await setup(t);
  await addDevice(d, 'stb-1');
  const a = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot', idempotencyKey: 'k1' } });
  t.equal(a.status, 201);
  const again = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot', idempotencyKey: 'k1' } });
  t.equal(again.status, 200, 'the same request with the same key: the same task');
  t.equal(again.body.id, a.body.id);
  t.match(await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'factoryReset', idempotencyKey: 'k1' } }), { status: 409, body: { error: 'idempotency-conflict' } });
  await addDevice(d, 'stb-2');
  t.equal((await d.api('POST', '/v1/devices/stb-2/tasks', { json: { kind: 'factoryReset', idempotencyKey: 'k1' } })).status, 201, 'keys are per device');
  t.match(await d.api('GET', '/v1/devices/nope/tasks'), { status: 404 });

  t.match(await d.api('POST', `/v1/tasks/${a.body.id}/cancel`), { status: 200, body: { status: 'cancelled' } });
  t.match(await d.api('POST', `/v1/tasks/${a.body.id}/cancel`), { status: 409, body: { error: 'not-cancellable' } });
  t.match(await d.api('POST', '/v1/tasks/999/cancel'), { status: 404 });

  const short = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'refresh', expiresIn: 60 } });
  d.clock.advance(61_000);
  d.timers.fire();
  t.ok(await until(d, async () => (await d.api('GET', `/v1/tasks/${short.body.id}`)).body.status !== 'queued'), 'the expiry deadline fired');
  t.match((await d.api('GET', `/v1/tasks/${short.body.id}`)).body, { status: 'expired' });

  t.match(await d.api('POST', '/v1/devices/nope/tasks', { json: { kind: 'reboot' } }), { status: 404, body: { error: 'unknown-device' } });
  t.match(await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'explode' } }), { status: 400, body: { message: /^kind: must be one of getParameterValues/ } });
  t.match(await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues' } }), { status: 400, body: { message: 'names: is required' } });
  t.match(await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot', extra: 1 } }), { status: 400, body: { message: 'extra: is not a known field' } });
  t.match(await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'download', url: 'not a url' } }), { status: 400 });
  t.match(await d.api('GET', '/v1/tasks/abc'), { status: 400 });
  const list = await d.api('GET', '/v1/devices/stb-1/tasks');
  t.same(list.body.tasks.map((x: { status: string }) => x.status), ['expired', 'cancelled'], 'newest first');

  // [cwmp] task_retention (30 days): finished tasks go; open ones stay.
  const open = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot', expiresIn: 365 * 86_400 } });
  d.clock.advance(31 * 86_400_000);
  for (let i = 0; i < 3; i++) {
    d.clock.advance(3_600_000);
    d.timers.fire();
  }
  t.match(await d.api('GET', `/v1/tasks/${a.body.id}`), { status: 404 }, 'a cancelled task past its retention is gone');
  t.match(await d.api('GET', `/v1/tasks/${open.body.id}`), { status: 200, body: { status: 'queued' } });
  t.match(d.logText(), /finished tasks past their retention deleted/);
});

for (const [root, model] of [
  ['InternetGatewayDevice.', 'TR-098'],
  ['Device.', 'TR-181'],
] as const) {
  t.test(`NAT detection (${model}): a device behind NAT gets our STUN settings once, under ${root}`, async (t) => {
    const { d, cwmpUrl } = await setup(t, { cwmp: { stun_address: 'stun.example.net' } });
    const dev = await addDevice(d, 'stb-1');
    const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
    const behind = { [`${root}ManagementServer.ConnectionRequestURL`]: 'http://192.168.1.20:7547/cr' };
    await cpe.post(informXml({ serial: 'S1', params: behind }));
    const rpc = await cpe.post('');
    const { id, method } = TestCpe.rpc(rpc.body);
    t.equal(method, 'SetParameterValues');
    const names = [...rpc.body.matchAll(/<Name>([^<]+)<\/Name><Value xsi:type="([^"]+)">([^<]*)</g)].map((m) => [m[1]!.slice(root.length), m[2], m[3]]);
    const port = String(d.daemon.keepalive.addresses.v4!.port);
    t.same(names, [
      ['ManagementServer.STUNEnable', 'xsd:boolean', 'true'],
      ['ManagementServer.STUNServerAddress', 'xsd:string', 'stun.example.net'],
      ['ManagementServer.STUNServerPort', 'xsd:unsignedInt', port],
      ['ManagementServer.STUNUsername', 'xsd:string', dev.credentials.stunUsername],
      ['ManagementServer.STUNPassword', 'xsd:string', dev.credentials.stunPassword],
      ['ManagementServer.STUNMinimumKeepAlivePeriod', 'xsd:unsignedInt', '30'],
      ['ManagementServer.STUNMaximumKeepAlivePeriod', 'xsd:int', '30'],
      ['ManagementServer.ConnectionRequestUsername', 'xsd:string', 'stb-1'],
      ['ManagementServer.ConnectionRequestPassword', 'xsd:string', 'stb-1-cr'],
    ]);
    await cpe.post(responseXml(id, 'SetParameterValuesResponse', '<Status>0</Status>'));
    const shown = (await d.api('GET', '/v1/devices/stb-1')).body.management;
    t.match(shown, { behindNat: true, natId: '127.0.0.1', keepaliveProvisioned: true, dataModel: root });
    t.notOk(shown.parameters.some((p: { name: string }) => p.name.endsWith('Password')), 'secrets are not kept as known values');
    cpe.endSession();
    await cpe.post(informXml({ serial: 'S1', params: behind }));
    t.equal((await cpe.post('')).status, 204, 'already ours: not provisioned again');
  });
}

t.test('what was provisioned is fingerprinted under the master key; a fingerprint an older stbd stored unkeyed provisions nothing again', async (t) => {
  const { d, cwmpUrl } = await setup(t, { cwmp: { stun_address: 'stun.example.net' } });
  await addDevice(d, 'stb-1');
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  const behind = { [`${IGD}ConnectionRequestURL`]: 'http://192.168.1.20:7547/cr' };
  await cpe.post(informXml({ serial: 'S1', params: behind }));
  const rpc = await cpe.post('');
  const sent = [...rpc.body.matchAll(/<Name>([^<]+)<\/Name><Value xsi:type="([^"]+)">([^<]*)</g)].map((m) => ({ name: m[1]!, type: m[2]!, value: m[3]! }));
  t.equal(sent.length, 9, 'the STUN settings with the connection-request credentials');
  await cpe.post(responseXml(TestCpe.rpc(rpc.body).id, 'SetParameterValuesResponse', '<Status>0</Status>'));
  cpe.endSession();
  const stored = async () => (await d.daemon.management.state.get('stb-1'))!.stunProvisioned;
  const keyed = await stored();
  t.not(keyed, unkeyed(sent), 'not a plain hash of values that hold the STUN and connection-request passwords');

  // As an older stbd left it: the same values, fingerprinted without a key.
  await d.daemon.management.state.setStunProvisioned('stb-1', unkeyed(sent));
  await cpe.post(informXml({ serial: 'S1', params: behind }));
  t.equal((await cpe.post('')).status, 204, 'the same values: not provisioned again');
  cpe.endSession();
  t.equal(await stored(), keyed, 'and the fingerprint is stored again, keyed');

  await d.daemon.management.state.setStunProvisioned('stb-1', unkeyed(sent.map((v) => (v.name.endsWith('STUNPassword') ? { ...v, value: 'another' } : v))));
  await cpe.post(informXml({ serial: 'S1', params: behind }));
  t.equal(TestCpe.rpc((await cpe.post('')).body).method, 'SetParameterValues', 'an unkeyed fingerprint of other values: provisioned again');
});

t.test('NATDetected=true is enough to call a device behind NAT; a fault on provisioning retries at the next Inform', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  await addDevice(d, 'stb-1');
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'stb-1-pw');
  const params = { ...direct('stb-1'), [`${IGD}NATDetected`]: 'true' };
  await cpe.post(informXml({ serial: 'S1', params }));
  const rpc = await cpe.post('');
  t.match(rpc.body, /<Name>InternetGatewayDevice\.ManagementServer\.STUNServerAddress<\/Name><Value xsi:type="xsd:string">127\.0\.0\.1</, 'advertises the host the CPE reached us at');
  await cpe.post(faultXml(TestCpe.rpc(rpc.body).id, 9007, 'Invalid parameter value'));
  cpe.endSession();
  await cpe.post(informXml({ serial: 'S1', params }));
  t.equal(TestCpe.rpc((await cpe.post('')).body).method, 'SetParameterValues');
});
