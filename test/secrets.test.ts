import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { run, STBCTL } from './helpers/daemon.js';
import { startInProcess } from './helpers/in-process.js';
import { gpvResponseXml, informXml, responseXml, TestCpe } from './helpers/test-cpe.js';

const IGD = 'InternetGatewayDevice.';
const WLAN = `${IGD}LANDevice.1.WLANConfiguration.1.`;

/** The bytes of the database and its WAL, as `grep` reads them. */
const storeBytes = (dir: string) => Buffer.concat([join(dir, 'stbd.db'), join(dir, 'stbd.db-wal')].filter(existsSync).map((f) => readFileSync(f)));

/** One CWMP session of a CPE: an Inform, then every RPC answered by `answer`; returns the RPCs it got. */
async function session(cpe: TestCpe, inform: string, answer: (id: string, method: string) => string): Promise<string[]> {
  cpe.endSession();
  const informed = await cpe.post(inform);
  if (informed.status !== 200) throw new Error(`Inform answered ${informed.status}: ${informed.body}`);
  const rpcs: string[] = [];
  for (let r = await cpe.post(''); r.status === 200; ) {
    rpcs.push(r.body);
    const { id, method } = TestCpe.rpc(r.body);
    r = await cpe.post(answer(id, method));
  }
  return rpcs;
}

t.test('secrets stay secret: task results, last known values, stbctl, logs at debug, the database and its WAL', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'bootstrap.creds'), 'factory:fact0ry-Zq90\n', { mode: 0o600 });
  const d = await startInProcess(dir, { cwmp: { bootstrap_credentials_file: join(dir, 'bootstrap.creds'), auto_register: true } });
  let running = true;
  const stop = async () => {
    if (running) await d.daemon.stop();
    running = false;
  };
  t.teardown(stop);
  const cwmpUrl = `http://127.0.0.1:${d.daemon.management.address!.port}/acs`;
  const secrets = ['fact0ry-Zq90'];

  // Devices: passwords given, generated, imported.
  const given = { stunPassword: 'stun-given-Zq81', cwmpPassword: 'cwmp-given-Zq82', crPassword: 'cr-given-Zq83' };
  t.equal((await d.api('POST', '/v1/devices', { json: { id: 'stb-1', ...given } })).status, 201);
  secrets.push(...Object.values(given));
  const generated = (await d.api('POST', '/v1/devices', { json: { id: 'stb-2' } })).body.credentials;
  const imported = (await d.api('POST', '/v1/devices/import?credentials=true', { body: 'id,cwmp_password\nstb-3,cwmp-imported-Zq84\n' })).body.credentials;
  for (const c of [generated, ...imported]) secrets.push(c.stunPassword, c.crPassword, c.cwmpPassword);

  // Queued tasks holding secrets: a Wi-Fi passphrase, a download with a password in its URL and another in its own field.
  const setTask = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'setParameterValues', values: [{ name: `${WLAN}KeyPassphrase`, value: 'wifi-set-Zq86' }, { name: `${WLAN}SSID`, value: 'home' }] } })).body;
  const url = 'https://fwuser:fw-url-Zq88@files.example.net/fw.bin';
  const download = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'download', url, username: 'u', password: 'dl-pw-Zq89' } })).body;
  const read = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: [`${WLAN}`, `${IGD}UserInterface.`] } })).body;
  secrets.push('wifi-set-Zq86', 'fw-url-Zq88', 'dl-pw-Zq89');
  t.equal(setTask.request.values[0].value, '(secret)');
  t.equal(download.request.url, 'https://fwuser:(secret)@files.example.net/fw.bin', 'URL userinfo: the password hidden');
  t.equal(download.request.password, '(secret)');
  for (const s of ['wifi-set-Zq86', 'fw-url-Zq88', 'dl-pw-Zq89']) t.notOk(storeBytes(dir).includes(s), `queued: ${s} is stored sealed`);

  // The CPE behind NAT: its Inform carries a secret; its session gets our tasks, then stbd's own provisioning.
  const cpe = new TestCpe(cwmpUrl, 'stb-1', given.cwmpPassword);
  const informParams = { [`${IGD}ManagementServer.ConnectionRequestURL`]: 'http://192.168.1.20:7547/cr', [`${WLAN}KeyPassphrase`]: 'wifi-inform-Zq85' };
  const rpcs = await session(cpe, informXml({ serial: 'S1', params: informParams }), (id, method) => {
    if (method === 'GetParameterValues') return gpvResponseXml(id, { [`${WLAN}KeyPassphrase`]: 'wifi-read-Zq87', [`${WLAN}PreSharedKey.1.PreSharedKey`]: 'psk-read-Zq91', [`${WLAN}WEPKeyIndex`]: '1', [`${IGD}UserInterface.PasswordRequired`]: 'true' });
    if (method === 'Download') return responseXml(id, 'DownloadResponse', '<Status>1</Status>');
    return responseXml(id, `${method}Response`, '<Status>0</Status>');
  });
  secrets.push('wifi-inform-Zq85', 'wifi-read-Zq87', 'psk-read-Zq91');
  t.same(rpcs.map((b) => TestCpe.rpc(b).method), ['SetParameterValues', 'Download', 'GetParameterValues', 'SetParameterValues']);
  t.match(rpcs[0], '<Value xsi:type="xsd:string">wifi-set-Zq86</Value>', 'the CPE gets the secret itself');
  t.match(rpcs[1], `<URL>${url}</URL>`);
  t.match(rpcs[1], '<Password>dl-pw-Zq89</Password>');
  t.match(rpcs[3], given.stunPassword, 'provisioning: the STUN password on the wire');

  // A CPE on factory credentials gets its own: they are secrets too.
  const factory = new TestCpe(cwmpUrl, 'factory', 'fact0ry-Zq90');
  const pushed = await session(factory, informXml({ serial: 'S9', events: ['0 BOOTSTRAP'], params: { [`${IGD}ManagementServer.ConnectionRequestURL`]: 'http://127.0.0.1:1/cr' } }), (id) => responseXml(id, 'SetParameterValuesResponse', '<Status>0</Status>'));
  const values = Object.fromEntries([...(pushed[0] ?? '').matchAll(/<Name>[^<]*\.(\w+)<\/Name><Value[^>]*>([^<]*)</g)].map((m) => [m[1], m[2]]));
  t.ok(values['Password'] && values['ConnectionRequestPassword'], 'new credentials pushed');
  secrets.push(values['Password']!, values['ConnectionRequestPassword']!);

  // What an operator sees.
  const shownRead = (await d.api('GET', `/v1/tasks/${read.id}`)).body;
  t.same(shownRead.result.parameters, [
    { name: `${WLAN}KeyPassphrase`, value: '(secret)', type: 'xsd:string' },
    { name: `${WLAN}PreSharedKey.1.PreSharedKey`, value: '(secret)', type: 'xsd:string' },
    { name: `${WLAN}WEPKeyIndex`, value: '1', type: 'xsd:string' },
    { name: `${IGD}UserInterface.PasswordRequired`, value: 'true', type: 'xsd:string' },
  ]);
  const known = (await d.api('GET', '/v1/devices/stb-1')).body.management.parameters.map((p: { name: string }) => p.name);
  t.ok(known.includes(`${WLAN}WEPKeyIndex`) && known.includes(`${WLAN}SSID`), 'last known values: the others are kept');
  t.notOk(known.some((n: string) => /KeyPassphrase|PreSharedKey$|Password$/.test(n)), 'last known values: no secret parameter');
  const config = join(dir, 'stbd.toml');
  const ctl = (...args: string[]) => run(STBCTL, ['--config', config, '--api', d.url, ...args]);
  const outputs = [
    JSON.stringify((await d.api('GET', '/v1/devices/stb-1/tasks')).body),
    JSON.stringify((await d.api('GET', '/v1/devices/00D09E-STB-S9/tasks')).body),
    JSON.stringify((await d.api('GET', '/v1/devices/stb-1')).body),
    (await ctl('tasks', 'stb-1')).stdout,
    (await ctl('tasks', 'stb-1', '--json')).stdout,
    (await ctl('task', 'show', String(read.id))).stdout,
    (await ctl('task', 'show', String(download.id))).stdout,
    (await ctl('device', 'show', 'stb-1')).stdout,
  ];
  t.match(outputs[5], /KeyPassphrase\s+\(secret\)/, 'stbctl shows the mask');
  t.match(outputs[6], 'https://fwuser:(secret)@files.example.net/fw.bin');
  for (const s of secrets) {
    t.notOk(outputs.some((o) => o.includes(s)), `${s}: not in the API or stbctl output`);
    t.notOk(d.logText().includes(s), `${s}: not in the logs at debug`);
    t.notOk(storeBytes(dir).includes(s), `${s}: not in the database or its WAL`);
  }
  await stop();
  for (const s of secrets) t.notOk(storeBytes(dir).includes(s), `${s}: not in the database after the WAL is checkpointed`);
});
