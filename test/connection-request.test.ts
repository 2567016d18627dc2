import { createServer } from 'node:http';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { CpeHttpAuth, parseAuthorization } from '../src/management/http-auth.js';
import { parseConnectionRequest, verifySignature } from '../src/management/udp-connection-request.js';
import { cpeRequest } from './helpers/cpe.js';
import { startInProcess } from './helpers/in-process.js';
import { gpvResponseXml, informXml, responseXml, TestCpe } from './helpers/test-cpe.js';
import { UdpPeer } from './helpers/udp.js';

async function setup(t: { testdir(): string; teardown(fn: () => unknown): void }, store: Record<string, string | number | boolean | readonly string[]> = {}) {
  const dir = t.testdir();
  const d = await startInProcess(dir, { store, cwmp: { connection_request_retry: '1s', connection_request_timeout: '10s' } });
  t.teardown(() => d.daemon.stop());
  const dev = (await d.api('POST', '/v1/devices', { json: { id: 'stb-1', crPassword: 'crpass', cwmpPassword: 'cwmp-pw' } })).body;
  const cwmpUrl = `http://127.0.0.1:${d.daemon.management.address!.port}/`;
  return { d, dir, dev, cwmpUrl, stunPort: d.daemon.keepalive.addresses.v4!.port };
}

t.test('UDP connection requests go from the STUN socket to the binding, signed, resent with a strictly newer ts until the session comes', async (t) => {
  const { d, dev, cwmpUrl, stunPort } = await setup(t);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  // The CPE's keepalive from its connection-request port opens the binding.
  await peer.send(cpeRequest({ username: dev.credentials.stunUsername, connectionRequestBinding: true, bindingChange: true, integrity: { password: dev.credentials.stunPassword, variant: 'rfc3489' } }), stunPort);
  t.ok(await peer.next(), 'keepalive answered');
  t.match(d.daemon.keepalive.presenceOf('stb-1'), { online: true, binding: { port: peer.port } });

  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  const first = await peer.next();
  t.equal(first?.rinfo.port, stunPort, 'sent from the STUN socket itself');
  const cr = parseConnectionRequest(first!.msg);
  if ('error' in cr) throw new Error(cr.error);
  t.equal(cr.un, 'stb-1');
  t.ok(verifySignature(cr, 'crpass'), 'HMAC-SHA1 with the ConnectionRequestPassword');
  t.match(first!.msg.toString(), new RegExp(`^GET http://127\\.0\\.0\\.1:${peer.port}\\?ts=\\d+&id=\\d+&un=stb-1&cn=[0-9a-f]+&sig=[0-9a-f]{40} HTTP/1\\.1\\r\\nHost: 127\\.0\\.0\\.1:${peer.port}\\r\\n\\r\\n$`));
  t.match((await d.api('GET', `/v1/tasks/${task.body.id}`)).body.pending, /1 UDP connection request\(s\) sent/);

  d.clock.advance(1000);
  d.timers.fire();
  const second = parseConnectionRequest((await peer.next())!.msg);
  if ('error' in second) throw new Error(second.error);
  t.ok(second.ts > cr.ts, 'ts strictly increases');
  t.not(second.id, cr.id, 'a fresh id');
  t.not(second.cn, cr.cn, 'a fresh cnonce');

  // The CPE calls in: no more connection requests.
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'cwmp-pw');
  await cpe.post(informXml({ serial: 'S1', events: ['6 CONNECTION REQUEST'] }));
  t.equal(TestCpe.rpc((await cpe.post('')).body).method, 'Reboot');
  t.equal((await cpe.post(responseXml(String(task.body.id), 'RebootResponse', ''))).status, 204);
  d.clock.advance(5000);
  d.timers.fire();
  t.equal(await peer.next(200), undefined, 'no resend after the session');
});

t.test('a device that never calls in: resends back off, then the task stays queued and says why', async (t) => {
  const { d, dev, stunPort } = await setup(t);
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  await peer.send(cpeRequest({ username: dev.credentials.stunUsername, connectionRequestBinding: true, integrity: { password: dev.credentials.stunPassword, variant: 'rfc3489' } }), stunPort);
  await peer.next();
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  const sentAt: number[] = [];
  for (let ms = 0; ms <= 11_000; ms += 500) {
    while (await peer.next(20)) sentAt.push(ms);
    d.clock.advance(500);
    d.timers.fire();
  }
  t.same(sentAt, [0, 1000, 3000, 7000], 'at 0, then 1 s, 2 s, 4 s later; then the 10 s timeout');
  const view = (await d.api('GET', `/v1/tasks/${task.body.id}`)).body;
  t.equal(view.status, 'queued');
  t.match(view.pending, /did not answer 4 UDP connection request\(s\) in 10 s; its tasks stay queued until it calls in/);
});

t.test('a device reachable directly gets an HTTP connection request with Digest authentication', async (t) => {
  const { d, cwmpUrl } = await setup(t);
  const auth = new CpeHttpAuth('cpe', () => Date.now());
  const seen: string[] = [];
  const device = createServer((req, res) => {
    const creds = parseAuthorization(req.headers.authorization);
    if (!creds || !auth.check(creds, 'GET', req.url ?? '').matches('crpass')) {
      seen.push('challenged');
      res.writeHead(401, { 'www-authenticate': auth.challenge() }).end();
      return;
    }
    seen.push(`accepted ${creds.username}`);
    res.writeHead(200).end();
  });
  await new Promise<void>((resolve) => device.listen(0, '127.0.0.1', resolve));
  t.teardown(() => device.close());
  const port = (device.address() as AddressInfo).port;
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'cwmp-pw');
  await cpe.post(informXml({ serial: 'S1', params: { 'InternetGatewayDevice.ManagementServer.ConnectionRequestURL': `http://127.0.0.1:${port}/cr?x=1` } }));
  await cpe.post('');
  const task = await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } });
  for (let i = 0; i < 100 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(seen, ['challenged', 'accepted stb-1']);
  t.match((await d.api('GET', `/v1/tasks/${task.body.id}`)).body.pending, /1 HTTP connection request\(s\) sent/);
});

t.test('a session the store could not serve (503) is over on both sides: a task queued after it calls the device in at once', async (t) => {
  // SQLite, named (so the PostgreSQL run keeps it; there cluster-pg-restart covers a restarting server), with a
  // short busy timeout: a write gives up quickly while another connection holds its write lock.
  const { d, dir, dev, cwmpUrl, stunPort } = await setup(t, { kind: 'sqlite', busy_timeout: '20ms' });
  const peer = await UdpPeer.open();
  t.teardown(() => peer.close());
  await peer.send(cpeRequest({ username: dev.credentials.stunUsername, connectionRequestBinding: true, integrity: { password: dev.credentials.stunPassword, variant: 'rfc3489' } }), stunPort);
  t.ok(await peer.next(), 'keepalive answered: the binding is known');

  const reboot = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'reboot' } })).body;
  t.ok(await peer.next(), 'a connection request for the first task');
  const cpe = new TestCpe(cwmpUrl, 'stb-1', 'cwmp-pw');
  t.equal((await cpe.post(informXml({ serial: 'S1', events: ['6 CONNECTION REQUEST'] }))).status, 200);
  t.equal(TestCpe.rpc((await cpe.post('')).body).method, 'Reboot');

  // Another connection (a backup tool, an sqlite3 shell) holds the write lock while the CPE answers.
  const other = new BetterSqlite3(join(dir, 'stbd.db'));
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const refused = await cpe.post(responseXml(String(reboot.id), 'RebootResponse', ''));
  t.equal(refused.status, 503, 'the store is unavailable: 503, the CPE tries later');
  other.exec('ROLLBACK');
  while (await peer.next(50)); // resends of the first connection request, if any

  const read = (await d.api('POST', '/v1/devices/stb-1/tasks', { json: { kind: 'getParameterValues', names: ['Device.DeviceInfo.SoftwareVersion'] } })).body;
  t.ok(await peer.next(1000), 'a connection request at once: the session the CPE saw end is not waited for');

  // The CPE calls in: the Reboot whose answer could not be stored goes out again (an RPC is delivered at least
  // once), then the read; both end done.
  const again = new TestCpe(cwmpUrl, 'stb-1', 'cwmp-pw');
  t.equal((await again.post(informXml({ serial: 'S1', events: ['6 CONNECTION REQUEST'] }))).status, 200);
  t.equal(TestCpe.rpc((await again.post('')).body).method, 'Reboot', 'the Reboot again: its answer was not stored');
  t.equal(TestCpe.rpc((await again.post(responseXml(String(reboot.id), 'RebootResponse', ''))).body).method, 'GetParameterValues');
  t.equal((await again.post(gpvResponseXml(String(read.id), { 'Device.DeviceInfo.SoftwareVersion': '1.0' }))).status, 204);
  t.equal((await d.api('GET', `/v1/tasks/${reboot.id}`)).body.status, 'done');
  t.equal((await d.api('GET', `/v1/tasks/${read.id}`)).body.status, 'done');
});
