import { createServer } from 'node:http';
import t from 'tap';
import { addDevice, basicInform, IGD, inform, message, ok, param, rpcOf, setup, valuesOf, XML } from './helpers/cwmp-wire.js';
import { until } from './helpers/in-process.js';
import { RawCpe } from './helpers/raw-cpe.js';

/** Tasks with CPEs that skip optional behaviour: partial-path reads, refused provisioning, refused logins. */

const names = (paths: [string, boolean][]) =>
  message(`<cwmp:GetParameterNamesResponse><ParameterList>${paths.map(([n, w]) => `<ParameterInfoStruct><Name>${n}</Name><Writable>${w ? 1 : 0}</Writable></ParameterInfoStruct>`).join('')}</ParameterList></cwmp:GetParameterNamesResponse>`);
const values = (v: Record<string, string>) => message(`<cwmp:GetParameterValuesResponse><ParameterList>${Object.entries(v).map(([n, x]) => param(n, x)).join('')}</ParameterList></cwmp:GetParameterValuesResponse>`);
const cwmpFault = (code: number, text: string, inner = '') =>
  message(`<soap:Fault><faultcode>Client</faultcode><faultstring>CWMP fault</faultstring><detail><cwmp:Fault><FaultCode>${code}</FaultCode><FaultString>${text}</FaultString>${inner}</cwmp:Fault></detail></soap:Fault>`);

const DI = 'InternetGatewayDevice.DeviceInfo.';
const TREE: [string, boolean][] = [
  [DI, false],
  [`${DI}Manufacturer`, false],
  [`${DI}SoftwareVersion`, false],
  [`${DI}X_Acme.`, false],
  [`${DI}X_Acme.Mode`, true],
];

/** Answers GetParameterNames / GetParameterValues name by name until the session ends; returns the RPCs seen. */
async function answerNameByName(t: { match(a: unknown, b: RegExp): void; notMatch(a: unknown, b: RegExp, m: string): void; equal(a: unknown, b: unknown): void; ok(a: unknown, m: string): void }, cpe: RawCpe, first: { text: string }): Promise<string[]> {
  const seen: string[] = [];
  let rpc = first;
  for (;;) {
    const { method } = rpcOf(rpc as never);
    if (method === '') return seen;
    seen.push(method);
    if (method === 'GetParameterNames') {
      t.match(rpc.text, new RegExp(`<ParameterPath>${DI.replaceAll('.', '\\.')}</ParameterPath><NextLevel>false</NextLevel>`));
      rpc = await cpe.request(names(TREE), XML);
    } else {
      t.equal(method, 'GetParameterValues');
      t.notMatch(rpc.text, /<string>[^<]*\.<\/string>/, 'no partial path asked again');
      const asked = [...rpc.text.matchAll(/<string>([^<]+)<\/string>/g)].map((m) => m[1]!);
      t.ok(asked.length <= 2, 'in batches of [cwmp] subtree_batch_size');
      rpc = await cpe.request(values(Object.fromEntries(asked.map((n) => [n, `v-${n.split('.').at(-1)}`]))), XML);
    }
  }
}

t.test('a CPE that drops the session on a partial-path read: the subtree is read name by name, and remembered', async (t) => {
  const { d, port } = await setup(t, { cwmp: { subtree_batch_size: 2 } });
  await addDevice(d, 'stb-1');
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'refresh', path: DI } });
  let cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }));
  const gpv = await cpe.request('');
  t.match(gpv.text, new RegExp(`<cwmp:GetParameterValues>.*<string>${DI.replaceAll('.', '\\.')}</string>`));
  cpe.close(); // no answer: the CPE gives up the session
  d.clock.advance(31_000);
  d.timers.fire();
  t.ok(await until(d, async () => (await d.api('GET', `/v1/tasks/${task.body.id}`)).body.status === 'queued'), 'the session timed out; the task is queued again');

  cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }));
  const seen = await answerNameByName(t, cpe, await cpe.request(''));
  t.same(seen, ['GetParameterNames', 'GetParameterValues', 'GetParameterValues']);
  const done = (await d.api('GET', `/v1/tasks/${task.body.id}`)).body;
  t.match(done, { status: 'done', result: { parameters: [{ name: `${DI}Manufacturer` }, { name: `${DI}SoftwareVersion` }, { name: `${DI}X_Acme.Mode`, value: 'v-Mode' }] } });
  t.equal((await d.api('GET', '/v1/devices/stb-1')).body.management.partialPathUnsupported, true);
  t.match((await d.api('GET', '/v1/devices/stb-1')).body.management.parameters, [{ name: `${DI}Manufacturer` }, { name: `${DI}SoftwareVersion` }, { name: `${DI}X_Acme.Mode` }]);
});

t.test('a CPE that faults a partial-path read gets the name-by-name read in the same session; a real fault still fails the task', async (t) => {
  const { d, port } = await setup(t, { cwmp: { subtree_batch_size: 2 } });
  await addDevice(d, 'stb-1');
  const get = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: [DI, 'InternetGatewayDevice.Time.NTPServer1'] } });
  const bad = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'refresh', path: 'InternetGatewayDevice.Nope.' } });
  const cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1' }));
  t.match((await cpe.request('')).text, /<cwmp:GetParameterValues>/);
  const after = await cpe.request(cwmpFault(9005, 'Invalid parameter name'), XML);
  t.equal(rpcOf(after).method, 'GetParameterNames', 'falls back at once');
  const answered: string[] = [];
  let rpc = await cpe.request(names(TREE), XML);
  while (rpcOf(rpc).method === 'GetParameterValues') {
    const asked = [...rpc.text.matchAll(/<string>([^<]+)<\/string>/g)].map((m) => m[1]!);
    answered.push(...asked);
    rpc = await cpe.request(values(Object.fromEntries(asked.map((n) => [n, 'x']))), XML);
  }
  t.same(answered.sort(), [`${DI}Manufacturer`, `${DI}SoftwareVersion`, `${DI}X_Acme.Mode`, 'InternetGatewayDevice.Time.NTPServer1'].sort(), 'full names are read with the leaves');
  t.equal((await d.api('GET', `/v1/tasks/${get.body.id}`)).body.status, 'done');
  // The next task reads a path that does not exist: the GetParameterNames fault is the task's.
  t.equal(rpcOf(rpc).method, 'GetParameterNames', 'remembered: no partial-path GetParameterValues any more');
  t.equal((await cpe.request(cwmpFault(9005, 'Invalid parameter name'), XML)).status, 204);
  t.match((await d.api('GET', `/v1/tasks/${bad.body.id}`)).body, { status: 'fault', fault: { code: 9005 } });
});

t.test('a refused provisioning stops after [cwmp] provisioning_attempts, says why with the CPE fault details, and stbctl provision asks again', async (t) => {
  const { d, port } = await setup(t, { cwmp: { provisioning_attempts: 2 } });
  await addDevice(d, 'stb-1');
  const behind = param(`${IGD}ConnectionRequestURL`, 'http://192.168.1.20:7547/cr');
  const detail =
    '<SetParameterValuesFault><ParameterName>InternetGatewayDevice.ManagementServer.STUNServerPort</ParameterName><FaultCode>9007</FaultCode><FaultString>Invalid parameter value</FaultString></SetParameterValuesFault>' +
    '<SetParameterValuesFault><ParameterName>InternetGatewayDevice.ManagementServer.STUNEnable</ParameterName><FaultCode>9008</FaultCode><FaultString>Attempt to set a non-writable parameter</FaultString></SetParameterValuesFault>';
  for (let i = 1; i <= 2; i++) {
    const cpe = new RawCpe(port);
    await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', params: behind }));
    t.equal(rpcOf(await cpe.request('')).method, 'SetParameterValues', `session ${i}: provisioned`);
    t.equal((await cpe.request(cwmpFault(9003, 'Invalid arguments', detail), XML)).status, 204);
    cpe.close();
  }
  const cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', params: behind }));
  t.equal((await cpe.request('')).status, 204, 'not asked a third time');
  cpe.close();
  const m = (await d.api('GET', '/v1/devices/stb-1')).body.management;
  t.match(m.provisioning, {
    state: 'stopped',
    failures: 2,
    lastFault: {
      code: 9003,
      message: 'Invalid arguments',
      details: [
        { parameter: `${IGD}STUNServerPort`, code: 9007, message: 'Invalid parameter value' },
        { parameter: `${IGD}STUNEnable`, code: 9008, message: 'Attempt to set a non-writable parameter' },
      ],
    },
  });
  const tasks = (await d.api('GET', '/v1/devices/stb-1/tasks')).body.tasks;
  t.match(tasks[0].fault.details, [{ parameter: `${IGD}STUNServerPort`, code: 9007 }], 'fault details are kept on the task');
  t.match(d.logText(), /provisioning stopped: the CPE refused it/);

  const again = await d.api('POST', '/v1/devices/stb-1/provision');
  t.equal(again.status, 202);
  t.equal((await d.api('POST', '/v1/devices/nobody/provision')).status, 404);
  const next = new RawCpe(port);
  await basicInform(next, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', params: behind }));
  const rpc = await next.request('');
  t.equal(rpcOf(rpc).method, 'SetParameterValues', 'provisioned again after stbctl provision');
  t.equal(valuesOf(rpc)['STUNEnable'], 'true');
  t.equal((await next.request(ok('SetParameterValues'), XML)).status, 204);
  t.match((await d.api('GET', '/v1/devices/stb-1')).body.management.provisioning, { state: 'ok', failures: 0 });
});

t.test('a device that called in but whose login was refused: the task says so, not "did not answer"; results are counted', async (t) => {
  let requests = 0;
  const cr = createServer((_req, res) => {
    requests++;
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => cr.listen(0, '127.0.0.1', r));
  t.teardown(() => cr.close());
  const crUrl = `http://127.0.0.1:${(cr.address() as { port: number }).port}/cr`;
  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  // One session first, so stbd knows where to send connection requests.
  let cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', params: param(`${IGD}ConnectionRequestURL`, crUrl) }));
  t.equal((await cpe.request('')).status, 204);
  cpe.close();
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  t.ok(await until(d, () => requests === 1), 'an HTTP connection request went out');
  cpe = new RawCpe(port);
  t.equal((await basicInform(cpe, 'stb-1', 'stale-password', inform({ serial: 'S1', params: param(`${IGD}ConnectionRequestURL`, crUrl) }))).status, 401);
  const pending = (await d.api('GET', `/v1/tasks/${task.body.id}`)).body.pending;
  t.equal(pending, 'the device called in but its CWMP login was refused: wrong credentials');
  cpe.close();
  await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'factoryReset' } });
  t.ok(await until(d, () => requests === 2), 'asked again for the next task');
  cpe = new RawCpe(port);
  await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', params: param(`${IGD}ConnectionRequestURL`, crUrl) }));
  t.equal(rpcOf(await cpe.request('')).method, 'Reboot');
  const metrics = await (await fetch(`${d.url}/metrics`)).text();
  t.match(metrics, /stbd_connection_requests_total\{via="http",result="sent"\} 2/);
  t.match(metrics, /stbd_connection_requests_total\{via="http",result="answered"\} 1/, 'only the session that followed counts as answered');
});

t.test('HTTP connection requests answer Digest only, unless [cwmp] connection_request_allow_basic', async (t) => {
  const auths: string[] = [];
  const server = createServer((req, res) => {
    auths.push(req.headers.authorization ?? '');
    if (!req.headers.authorization) res.writeHead(401, { 'www-authenticate': 'Basic realm="cpe"' }).end();
    else res.writeHead(200).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const crUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/cr`;
  const session = async (port: number) => {
    const cpe = new RawCpe(port);
    await basicInform(cpe, 'stb-1', 'stb-1-pw', inform({ serial: 'S1', params: param(`${IGD}ConnectionRequestURL`, crUrl) }));
    t.equal((await cpe.request('')).status, 204);
    cpe.close();
  };

  const { d, port } = await setup(t);
  await addDevice(d, 'stb-1');
  await session(port);
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  const pending = async () => (await d.api('GET', `/v1/tasks/${task.body.id}`)).body.pending as string;
  t.ok(await until(d, async () => /Basic authentication, which sends its connection-request password in clear; \[cwmp\] connection_request_allow_basic = true allows it/.test(await pending())), 'refused by default, and the pending text says why');
  t.notOk(auths.some((a) => a.startsWith('Basic')), 'no password sent in clear');

  const allowed = await setup(t, { cwmp: { connection_request_allow_basic: true } });
  await addDevice(allowed.d, 'stb-1');
  await session(allowed.port);
  await allowed.d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  t.ok(await until(allowed.d, () => auths.some((a) => a.startsWith('Basic'))), 'answered with Basic when allowed');
});
