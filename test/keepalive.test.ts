import { randomBytes } from 'node:crypto';
import t from 'tap';
import { decode, DecodeError, MessageType, parseAttributes, type StunAttribute } from '../src/stun/index.js';
import { cpeRequest } from './helpers/cpe.js';
import { startInProcess } from './helpers/in-process.js';
import { UdpPeer } from './helpers/udp.js';

const attrsOf = (bytes: Buffer | undefined): { type: number; attrs: StunAttribute[] } => {
  if (!bytes) throw new Error('no answer');
  const p = decode(bytes);
  if (p instanceof DecodeError) throw new Error(p.code);
  return { type: p.type, attrs: parseAttributes(p) as StunAttribute[] };
};

t.test('keepalives over real UDP', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const stunPort = d.daemon.keepalive.addresses.v4!.port;
  const created = await d.api('POST', '/v1/devices', { json: { id: '00259E-STB-7', stunUsername: 'stb-7', stunPassword: 'keepalive-pw' } });
  t.equal(created.status, 201);
  await d.api('POST', '/v1/devices', { json: { id: 'other', stunPassword: 'other-pw' } });
  const cpe = await UdpPeer.open();
  t.teardown(() => cpe.close());
  const auth = { password: 'keepalive-pw', variant: 'rfc3489' as const };

  t.test('401 first, then MESSAGE-INTEGRITY: online, with the binding and NAT id', async (t) => {
    const challenge = attrsOf(await cpe.exchange(cpeRequest({ username: 'stb-7', padUsername: true, connectionRequestBinding: true }), stunPort));
    t.equal(challenge.type, MessageType.BindingError);
    t.match(challenge.attrs[0], { kind: 'ERROR-CODE', code: 401 });
    t.equal((await d.api('GET', '/v1/devices/00259E-STB-7')).body.online, false);

    const ok = attrsOf(await cpe.exchange(cpeRequest({ username: 'stb-7', padUsername: true, connectionRequestBinding: true, bindingChange: true, integrity: auth }), stunPort));
    t.equal(ok.type, MessageType.BindingSuccess);
    t.same(ok.attrs[0], { kind: 'MAPPED-ADDRESS', address: { family: 'IPv4', address: '127.0.0.1', port: cpe.port } }, 'the sender as seen by stbd');
    const shown = await d.api('GET', '/v1/devices/00259E-STB-7');
    t.match(shown.body, { online: true, binding: { address: '127.0.0.1', port: cpe.port }, natId: '127.0.0.1', lastSeen: new Date(d.clock.now()).toISOString() });
  });

  t.test('an RFC 5389 client gets XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT', async (t) => {
    const peer = await UdpPeer.open();
    t.teardown(() => peer.close());
    const first = attrsOf(await peer.exchange(cpeRequest({ dialect: 'rfc5389', username: 'stb-7' }), stunPort));
    t.same(first.attrs.map((a) => a.kind), ['ERROR-CODE', 'FINGERPRINT']);
    const ok = attrsOf(await peer.exchange(cpeRequest({ dialect: 'rfc5389', username: 'stb-7', integrity: { password: 'keepalive-pw', variant: 'rfc5389' } }), stunPort));
    t.same(ok.attrs.map((a) => a.kind), ['XOR-MAPPED-ADDRESS', 'MESSAGE-INTEGRITY', 'FINGERPRINT']);
    t.same(ok.attrs[0], { kind: 'XOR-MAPPED-ADDRESS', address: { family: 'IPv4', address: '127.0.0.1', port: peer.port } });
  });

  t.test('wrong password and unknown user: identical 401s, nothing changes', async (t) => {
    const peer = await UdpPeer.open();
    t.teardown(() => peer.close());
    const id = randomBytes(16);
    const before = (await d.api('GET', '/v1/devices/other')).body;
    const wrong = await peer.exchange(cpeRequest({ username: 'other', transactionId: id, integrity: { password: 'nope', variant: 'rfc3489' } }), stunPort);
    const unknown = await peer.exchange(cpeRequest({ username: 'ghost', transactionId: id, integrity: { password: 'nope', variant: 'rfc3489' } }), stunPort);
    t.ok(wrong && unknown);
    t.same(wrong, unknown);
    t.same((await d.api('GET', '/v1/devices/other')).body, before);
  });

  t.test('binding change: a new port with 0xC001 moves the binding', async (t) => {
    const moved = await UdpPeer.open();
    t.teardown(() => moved.close());
    await moved.exchange(cpeRequest({ username: 'stb-7', connectionRequestBinding: true, bindingChange: true, integrity: auth }), stunPort);
    const shown = (await d.api('GET', '/v1/devices/00259E-STB-7')).body;
    t.same(shown.binding, { address: '127.0.0.1', port: moved.port });
    t.ok(shown.bindingChangedAt);
  });

  t.test('bytes sent to the binding leave from the STUN socket', async (t) => {
    const target = await UdpPeer.open();
    t.teardown(() => target.close());
    await target.exchange(cpeRequest({ username: 'stb-7', connectionRequestBinding: true, integrity: auth }), stunPort);
    const sent = d.daemon.keepalive.sendToBinding('00259E-STB-7', Buffer.from('GET http://x?ts=1 HTTP/1.1\r\n\r\n'));
    const got = await target.next();
    t.same(await sent, { address: '127.0.0.1', port: target.port });
    t.equal(got?.msg.toString(), 'GET http://x?ts=1 HTTP/1.1\r\n\r\n');
    t.equal(got?.rinfo.port, stunPort, 'from the STUN port, so the NAT mapping lets it in');
    await t.rejects(d.daemon.keepalive.sendToBinding('other', Buffer.from('x')), { code: 'no-binding' });
    await t.rejects(d.daemon.keepalive.sendToBinding('ghost', Buffer.from('x')), { code: 'unknown-device' });
  });

  t.test('online → offline → online as the clock moves', async (t) => {
    t.equal((await d.api('GET', '/v1/devices/00259E-STB-7')).body.online, true);
    d.clock.advance(89_000);
    d.timers.fire();
    t.equal((await d.api('GET', '/v1/devices/00259E-STB-7')).body.online, true, 'still online within offline_after (90 s)');
    d.clock.advance(2_000);
    d.timers.fire();
    const off = (await d.api('GET', '/v1/devices/00259E-STB-7')).body;
    t.equal(off.online, false, 'offline after 3 × keepalive_period without a keepalive');
    t.ok(off.binding, 'the last binding is still known');
    t.match((await d.api('GET', '/health')).body.devices, { online: 0 });
    // This port is no longer the trusted source (others authenticated since): challenged, then believed.
    t.equal(attrsOf(await cpe.exchange(cpeRequest({ username: 'stb-7' }), stunPort)).type, MessageType.BindingError);
    t.equal(attrsOf(await cpe.exchange(cpeRequest({ username: 'stb-7', integrity: auth }), stunPort)).type, MessageType.BindingSuccess);
    t.equal((await d.api('GET', '/v1/devices/00259E-STB-7')).body.online, true);
  });

  t.test('list --online and metrics', async (t) => {
    const online = await d.api('GET', '/v1/devices?online=true');
    t.same(online.body.devices.map((x: { id: string }) => x.id), ['00259E-STB-7']);
    const res = await fetch(`${d.url}/metrics`);
    t.equal(res.status, 200);
    const text = await res.text();
    t.match(text, /^stbd_devices_online 1$/m);
    t.match(text, /^stbd_keepalive_answered_total [1-9]\d*$/m);
    t.match(text, /^stbd_keepalive_challenged_total [1-9]\d*$/m);
    t.match(text, /^stbd_keepalive_rejected_total [1-9]\d*$/m);
    t.match(text, /^stbd_presence_flush_duration_seconds_count \d+$/m);
  });

  t.test('100,000 random and mutated datagrams: no crash, still answering', async (t) => {
    // From another address: a flood spends its own source's allowance of refusals, not the CPE's.
    const flood = await UdpPeer.open(0, '127.0.0.2');
    t.teardown(() => flood.close());
    const seeds = [cpeRequest({ username: 'stb-7', integrity: auth }), cpeRequest({ dialect: 'rfc5389', username: 'stb-7', integrity: { password: 'keepalive-pw', variant: 'rfc5389' } })];
    for (let i = 0; i < 100_000; i++) {
      let bytes: Buffer;
      if (i % 2) {
        bytes = randomBytes(i % 200);
      } else {
        bytes = Buffer.from(seeds[(i / 2) % 2] as Buffer);
        const at = (i * 7919) % bytes.length;
        bytes[at] = (bytes[at] as number) ^ (1 + (i % 255));
      }
      flood.socket.send(bytes, stunPort, '127.0.0.1');
      // The daemon shares this process: let it read before the socket buffer overflows.
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    const stats = d.daemon.keepalive.stats;
    t.ok(stats.received > 90_000, `${stats.received} received (loopback may drop a few)`);
    t.ok(stats.malformed > 45_000, `${stats.malformed} dropped as malformed`);
    const ok = attrsOf(await cpe.exchange(cpeRequest({ username: 'stb-7', integrity: auth }), stunPort));
    t.equal(ok.type, MessageType.BindingSuccess, 'still answering');
    t.notOk(d.logText().includes('keepalive-pw'), 'the STUN password never reached the logs');
  });
});
