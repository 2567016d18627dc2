import { createSocket } from 'node:dgram';
import t from 'tap';
import { decode, DecodeError, parseAttributes } from '../src/stun/index.js';
import { cpeRequest } from './helpers/cpe.js';
import { startInProcess } from './helpers/in-process.js';

const v6 = await new Promise<boolean>((resolve) => {
  const s = createSocket({ type: 'udp6', ipv6Only: true });
  s.once('error', () => resolve(false));
  s.bind(0, '::1', () => {
    s.close();
    resolve(true);
  });
});

t.test('an IPv6 listener, when configured, answers with XOR-MAPPED-ADDRESS and learns IPv6 bindings', { skip: v6 ? false : 'no IPv6 loopback (::1) on this machine' }, async (t) => {
  const d = await startInProcess(t.testdir(), { stun: { listen_v6: '[::1]:0' } });
  t.teardown(() => d.daemon.stop());
  await d.api('POST', '/v1/devices', { json: { id: 'stb-v6', stunPassword: 'pw-v6' } });
  const port = d.daemon.keepalive.addresses.v6!.port;
  const peer = createSocket({ type: 'udp6', ipv6Only: true });
  await new Promise<void>((resolve) => peer.bind(0, '::1', resolve));
  t.teardown(() => peer.close());
  const answer = new Promise<Buffer>((resolve) => peer.once('message', (m) => resolve(m)));
  peer.send(cpeRequest({ dialect: 'rfc5389', username: 'stb-v6', connectionRequestBinding: true, integrity: { password: 'pw-v6', variant: 'rfc5389' } }), port, '::1');
  const p = decode(await answer);
  if (p instanceof DecodeError) throw new Error(p.code);
  t.same((parseAttributes(p) as { kind: string }[])[0], { kind: 'XOR-MAPPED-ADDRESS', address: { family: 'IPv6', address: '::1', port: peer.address().port } });
  t.match((await d.api('GET', '/v1/devices/stb-v6')).body, { online: true, binding: { address: '::1', port: peer.address().port }, natId: '::1' });
  // Bytes for an IPv6 binding leave from the IPv6 STUN socket.
  const got = new Promise<{ port: number }>((resolve) => peer.once('message', (_m, rinfo) => resolve(rinfo)));
  await d.daemon.keepalive.sendToBinding('stb-v6', Buffer.from('hello'));
  t.equal((await got).port, port);
});
