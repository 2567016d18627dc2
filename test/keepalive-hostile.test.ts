import t from 'tap';
import { decode, DecodeError, MessageType, parseAttributes, type StunAttribute } from '../src/stun/index.js';
import { cpeRequest } from './helpers/cpe.js';
import { type InProcessDaemon, startInProcess } from './helpers/in-process.js';
import { UdpPeer } from './helpers/udp.js';

const answerOf = (bytes: Buffer | undefined): { type: number; attrs: StunAttribute[]; transactionId: Buffer } => {
  if (!bytes) throw new Error('no answer');
  const p = decode(bytes);
  if (p instanceof DecodeError) throw new Error(p.code);
  return { type: p.type, attrs: parseAttributes(p) as StunAttribute[], transactionId: p.transactionId };
};

async function metric(d: InProcessDaemon, line: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  return text.split('\n').find((l) => line.test(l));
}

async function peer(t: { teardown(fn: () => unknown): void }, host?: string): Promise<UdpPeer> {
  const p = await UdpPeer.open(0, host);
  t.teardown(() => p.close());
  return p;
}

t.test('a captured signed keepalive replayed from another port is refused and moves nothing', async (t) => {
  const d = await startInProcess(t.testdir());
  t.teardown(() => d.daemon.stop());
  const stun = d.daemon.keepalive.addresses.v4!.port;
  await d.api('POST', '/v1/devices', { json: { id: 'stb-r', stunPassword: 'replay-pw' } });
  const stb = await peer(t);
  const thief = await peer(t);

  const captured = cpeRequest({ username: 'stb-r', connectionRequestBinding: true, integrity: { password: 'replay-pw', variant: 'rfc3489' } });
  t.equal(answerOf(await stb.exchange(captured, stun)).type, MessageType.BindingSuccess);
  const before = (await d.api('GET', '/v1/devices/stb-r')).body;
  t.match(before, { online: true, binding: { address: '127.0.0.1', port: stb.port } });

  d.clock.advance(5_000);
  const refused = answerOf(await thief.exchange(captured, stun));
  t.equal(refused.type, MessageType.BindingError);
  t.match(refused.attrs[0], { kind: 'ERROR-CODE', code: 401 });
  t.same((await d.api('GET', '/v1/devices/stb-r')).body, before, 'binding, NAT id and last-seen as they were');

  // The STB lost the answer and retransmits (RFC 5389 §7.2.1): answered again, from the same source only.
  const again = answerOf(await stb.exchange(captured, stun));
  t.equal(again.type, MessageType.BindingSuccess);
  t.same(again.attrs[0], { kind: 'MAPPED-ADDRESS', address: { family: 'IPv4', address: '127.0.0.1', port: stb.port } });
  t.same((await d.api('GET', '/v1/devices/stb-r')).body, before, 'a retransmission is not news of the device');
  t.equal(await metric(d, /^stbd_keepalive_replayed_total /), 'stbd_keepalive_replayed_total 1');
  t.equal(await metric(d, /^stbd_keepalive_retransmitted_total /), 'stbd_keepalive_retransmitted_total 1');
  t.notOk(d.logText().includes('replay-pw'));
});

t.test('a flood of bad logins from one source: past its allowance no answer, other sources answered, one log line a minute', async (t) => {
  const d = await startInProcess(t.testdir(), { stun: { auth_failures_per_minute: 60, auth_failure_burst: 3 } });
  t.teardown(() => d.daemon.stop());
  const stun = d.daemon.keepalive.addresses.v4!.port;
  await d.api('POST', '/v1/devices', { json: { id: 'stb-f', stunPassword: 'flood-pw' } });
  const flooder = await peer(t, '127.0.0.2');
  const stb = await peer(t);
  const bad = () => cpeRequest({ username: 'stb-f', integrity: { password: 'guess', variant: 'rfc3489' } });
  const good = () => cpeRequest({ username: 'stb-f', integrity: { password: 'flood-pw', variant: 'rfc3489' } });
  /** The flooder's next answer, after a request that should get none and an anonymous probe that always gets one. */
  const unanswered = async (req: Buffer): Promise<boolean> => {
    await flooder.send(req, stun);
    const probe = cpeRequest({ dialect: 'rfc5389' });
    const next = answerOf(await flooder.exchange(probe, stun));
    return next.transactionId.equals(probe.subarray(4, 20));
  };

  for (let i = 0; i < 3; i++) t.match(answerOf(await flooder.exchange(bad(), stun)).attrs[0], { kind: 'ERROR-CODE', code: 401 }, `bad login ${i + 1}: 401`);
  t.ok(await unanswered(bad()), 'the 4th gets no answer');
  t.equal(answerOf(await stb.exchange(good(), stun)).type, MessageType.BindingSuccess, 'a keepalive from another source is answered');
  t.ok(await unanswered(good()), 'even a right password from the flooding source is not checked');
  t.equal(await metric(d, /^stbd_auth_throttled_total\{listener="stun"\} /), 'stbd_auth_throttled_total{listener="stun"} 2');

  d.clock.advance(1_000);
  t.match(answerOf(await flooder.exchange(bad(), stun)).attrs[0], { kind: 'ERROR-CODE', code: 401 }, 'one a second again');
  d.clock.advance(60_000);
  t.match(answerOf(await flooder.exchange(bad(), stun)).attrs[0], { kind: 'ERROR-CODE', code: 401 });

  const lines = d
    .logText()
    .split('\n')
    .filter((l) => l.includes('"source":"127.0.0.2"'))
    .map((l) => JSON.parse(l) as { msg: string; count?: number; device?: string });
  const logins = lines.filter((l) => l.msg.startsWith('STUN keepalive refused'));
  t.same(
    logins.map((l) => [l.count, l.device]),
    [
      [undefined, 'stb-f'],
      [4, 'stb-f'],
    ],
    'five refused logins: the first at once, the next four in one line when the minute is over',
  );
  t.match(logins[1]?.msg, /^STUN keepalive refused 4 times from this source since .*; the last: wrong MESSAGE-INTEGRITY$/);
  t.ok(lines.some((l) => l.msg.startsWith('STUN source reached its limit of refused logins')), 'running out is logged too');
  t.notOk(d.logText().includes('"from":"127.0.0.2'), 'no line per request');
});
