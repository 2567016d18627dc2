import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import t from 'tap';
import { openDatabase } from '../src/store/database.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { MessageType, decode, DecodeError } from '../src/stun/index.js';
import { cpeRequest } from './helpers/cpe.js';
import { startInProcess } from './helpers/in-process.js';
import { informXml, responseXml, TestCpe } from './helpers/test-cpe.js';
import { UdpPeer } from './helpers/udp.js';

const opts = { synchronous: 'normal', busyTimeoutMs: 1000 } as const;
const WLAN = 'InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.';
const storeBytes = (dir: string) => Buffer.concat([join(dir, 'stbd.db'), join(dir, 'stbd.db-wal')].filter(existsSync).map((f) => readFileSync(f)));

/** A database as stbd before sealing left it (schema 8): every secret in clear, a removed device's in free space. */
function plaintextDatabase(path: string): string[] {
  const db = openDatabase(path, { ...opts, migrations: MIGRATIONS.filter((m) => m.version <= 8) });
  const device = db.prepare('INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)');
  for (let i = 0; i < 300; i++) device.run(`filler-${i}`, `filler-${i}`, `filler-stun-${i}`, `filler-${i}`, `filler-cr-${i}`, `filler-${i}`, `filler-cwmp-${i}`);
  device.run('gone', 'gone', 'deleted-Zq12', 'gone', 'deleted-Zq12', 'gone', 'deleted-Zq12');
  device.run('stb-1', 'stb-1', 'stun-old-Zq1', 'stb-1', 'cr-old-Zq2', 'stb-1', 'cwmp-old-Zq3');
  // A removed device's passwords linger in the page's free space.
  db.prepare("DELETE FROM devices WHERE id = 'gone'").run();
  db.prepare(`INSERT INTO credential_rotations (device_id, cwmp_password, cr_password, interim, interim_password, created_at) VALUES ('stb-1', 'rot-cwmp-Zq4', 'rot-cr-Zq5', 'password', 'interim-Zq6', 0)`).run();
  db.prepare(
    `INSERT INTO cwmp_devices (device_id, manufacturer, oui, product_class, serial_number, data_model, cwmp_version, last_inform_at, last_events, source_address, behind_nat)
     VALUES ('stb-1', 'Acme', '00D09E', 'STB', 'S1', 'InternetGatewayDevice.', 'cwmp-1-2', 0, '[]', '127.0.0.1', 0)`,
  ).run();
  const param = db.prepare("INSERT INTO device_parameters (device_id, name, value, type, updated_at) VALUES ('stb-1', ?, ?, 'xsd:string', 0)");
  param.run(`${WLAN}KeyPassphrase`, 'param-Zq7');
  param.run(`${WLAN}SSID`, 'home');
  const task = db.prepare("INSERT INTO tasks (device_id, kind, request, origin, status, created_at, expires_at, result) VALUES ('stb-1', ?, ?, 'api', ?, 0, ?, ?)");
  const far = Date.parse('2030-01-01T00:00:00Z');
  task.run('getParameterValues', JSON.stringify({ kind: 'getParameterValues', names: [WLAN] }), 'done', far, JSON.stringify({ parameters: [{ name: `${WLAN}KeyPassphrase`, value: 'result-Zq9', type: 'xsd:string' }] }));
  task.run('setParameterValues', JSON.stringify({ kind: 'setParameterValues', values: [{ name: `${WLAN}KeyPassphrase`, value: 'done-Zq10', type: 'xsd:string' }] }), 'done', far, JSON.stringify({ status: 0 }));
  task.run('setParameterValues', JSON.stringify({ kind: 'setParameterValues', values: [{ name: `${WLAN}KeyPassphrase`, value: 'queued-Zq8', type: 'xsd:string' }] }), 'queued', far, null);
  db.prepare("INSERT INTO cpe_events (device_id, at, method, detail) VALUES ('stb-1', 0, 'AutonomousTransferComplete', ?)").run(JSON.stringify({ announceURL: 'https://u:event-Zq11@files.example.net/x' }));
  db.close();
  return ['stun-old-Zq1', 'cr-old-Zq2', 'cwmp-old-Zq3', 'rot-cwmp-Zq4', 'rot-cr-Zq5', 'interim-Zq6', 'param-Zq7', 'queued-Zq8', 'result-Zq9', 'done-Zq10', 'event-Zq11', 'deleted-Zq12', 'filler-stun-150'];
}

t.test('the sealing migration: an existing plaintext database is sealed; nothing of it is left in the file or its WAL; stbd works on it', async (t) => {
  const dir = t.testdir();
  const secrets = plaintextDatabase(join(dir, 'stbd.db'));
  t.same(secrets.filter((s) => !storeBytes(dir).includes(s)), [], 'before: every secret readable in the file');
  t.throws(() => openDatabase(join(dir, 'stbd.db'), opts), { name: 'StoreError', message: /stbd\.db: schema migration 9 \(.*\): 303 rows hold secrets to seal under the master key, and no key was given/ });

  const d = await startInProcess(dir);
  t.teardown(() => d.daemon.stop());
  for (const s of secrets) t.notOk(storeBytes(dir).includes(s), `${s}: not in the database or its WAL`);

  // The sealed passwords are the same passwords: the CWMP login, the keepalive, the queued secret on the wire.
  const cpe = new TestCpe(`http://127.0.0.1:${d.daemon.management.address!.port}/acs`, 'stb-1', 'cwmp-old-Zq3');
  t.equal((await cpe.post(informXml({ serial: 'S1', params: { 'InternetGatewayDevice.ManagementServer.ConnectionRequestURL': 'http://127.0.0.1:1/cr' } }))).status, 200);
  const rpc = await cpe.post('');
  t.match(rpc.body, '<Value xsi:type="xsd:string">queued-Zq8</Value>', 'the queued task sends its secret');
  await cpe.post(responseXml(TestCpe.rpc(rpc.body).id, 'SetParameterValuesResponse', '<Status>0</Status>'));
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  const answer = decode((await peer.exchange(cpeRequest({ username: 'stb-1', integrity: { password: 'stun-old-Zq1', variant: 'rfc3489' } }), d.daemon.keepalive.addresses.v4!.port))!);
  t.equal(answer instanceof DecodeError ? undefined : answer.type, MessageType.BindingSuccess, 'a keepalive signed with the STUN password is accepted');
  const filler = decode((await peer.exchange(cpeRequest({ username: 'filler-7', integrity: { password: 'filler-stun-7', variant: 'rfc3489' } }), d.daemon.keepalive.addresses.v4!.port))!);
  t.equal(filler instanceof DecodeError ? undefined : filler.type, MessageType.BindingSuccess);

  const shown = (await d.api('GET', '/v1/devices/stb-1')).body.management;
  t.same(shown.parameters.map((p: { name: string }) => p.name).filter((n: string) => n.startsWith(WLAN)), [`${WLAN}SSID`], 'secret parameters are gone from the last known values');
  t.equal(shown.provisioning?.credentialsPending ?? true, true, 'the pending rotation survived');
  t.same(shown.cpeEvents[0].detail, { announceURL: 'https://u:(secret)@files.example.net/x' });
  const tasks = (await d.api('GET', '/v1/devices/stb-1/tasks')).body.tasks.filter((x: { origin: string }) => x.origin === 'api');
  t.same(
    tasks.map((x: { status: string; request: { values?: { value: string }[] }; result?: { parameters?: { value: string }[] } }) => [x.status, x.request.values?.[0]?.value ?? x.result?.parameters?.[0]?.value]),
    [
      ['done', '(secret)'],
      ['done', '(secret)'],
      ['done', '(secret)'],
    ],
  );
});

t.test('the sealing migration\'s scrub, cut short by another process reading the file, is done at the next start', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'stbd.db');
  const secrets = plaintextDatabase(path);
  // Another process (sqlite3 in a shell, a backup script) in the middle of a read: the WAL cannot be emptied under it.
  const reader = new BetterSqlite3(path);
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM devices').get();
  const d = await startInProcess(dir);
  await d.daemon.stop();
  t.match(d.logText(), /database: secrets replaced by an upgrade may still linger in free space of .*stbd\.db or its -wal file: rewriting them failed \(another process holds the database open.*\); tried again at the next start/);
  t.ok(existsSync(`${path}-scrub`), 'the scrub is still pending');
  reader.exec('COMMIT');
  reader.close();

  const again = await startInProcess(dir);
  await again.daemon.stop();
  t.notOk(existsSync(`${path}-scrub`), 'done at the next start');
  for (const s of secrets) t.notOk(storeBytes(dir).includes(s), `${s}: not in the database or its WAL`);
  t.equal(existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0, 0, 'the WAL is empty');
});

t.test('a database sealed under another master key: stbd refuses to start, naming both files', async (t) => {
  const dir = t.testdir();
  plaintextDatabase(join(dir, 'stbd.db'));
  const d = await startInProcess(dir);
  await d.daemon.stop();
  writeFileSync(join(dir, 'master.key'), `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  await t.rejects(startInProcess(dir), { message: /^the device passwords in .*stbd\.db do not open with the master key .*master\.key \(another key sealed them\): start with the key the database was made with$/ });
});
