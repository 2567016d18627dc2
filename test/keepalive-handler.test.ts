import t from 'tap';
import { DeviceTable } from '../src/keepalive/device-table.js';
import { type HandlerDeps, KeepaliveHandler } from '../src/keepalive/keepalive-handler.js';
import { type Endpoint, Presence } from '../src/keepalive/presence.js';
import { ReplayMemory } from '../src/keepalive/replay-memory.js';
import { TokenBuckets } from '../src/rate-limit/token-buckets.js';
import { decode, DecodeError, INTEGRITY_VARIANTS, MessageType, parseAttributes, type StunAttribute, verifyIntegrity } from '../src/stun/index.js';
import { cpeRequest } from './helpers/cpe.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
// tr111.md §1: RFC 3489, USERNAME "stun-user" padded with spaces, CONNECTION-REQUEST-BINDING, no integrity.
const TR111_EXAMPLE = hex(`00010028 00112233 44556677 8899aabb ccddeeff
  0006000c 7374756e 2d757365 72202020
  c0010014 64736c66 6f72756d 2e6f7267 2f54522d 31313120`);

const FROM = { address: '203.0.113.7', port: 50123, family: 'IPv4' as const };
const MINUTE = 60_000;

const DECOY = Buffer.from('decoy-key-for-tests');

function setup(integrity: 'binding' | 'always' = 'binding', answerAnonymous = true, extra: Partial<HandlerDeps> = {}) {
  const table = new DeviceTable();
  const events: string[] = [];
  const presence = new Presence(90_000, {
    online: (s) => events.push(`online ${s}`),
    offline: (s) => events.push(`offline ${s}`),
    bindingChanged: (s, from, to, reported) => events.push(`binding ${s} ${from?.port ?? '-'}->${to?.port ?? '-'}${reported ? ' reported' : ''}`),
  });
  const slot = table.add({ id: 'stb-1', stunUsername: 'stun-user', stunPassword: 'stun-pass' });
  presence.ensureCapacity(table.slotCount);
  const replays = new ReplayMemory();
  replays.ensureCapacity(table.slotCount);
  const clock = { ms: 0 };
  const budget = (ratePerSec: number, burst: number) => new TokenBuckets({ ratePerSec, burst, capacity: 1000, now: () => clock.ms });
  const handler = new KeepaliveHandler(
    { devices: table, presence, replays, challenges: budget(100, 1000), failures: budget(10, 100), ...extra },
    { integrity, reauthAfterMs: 10 * MINUTE, answerAnonymous, decoyKey: DECOY },
  );
  return { table, presence, handler, slot, events, clock };
}

function answer(bytes: Buffer | undefined): { type: number; attrs: StunAttribute[]; packet: Exclude<ReturnType<typeof decode>, DecodeError> } {
  if (!bytes) throw new Error('no response');
  const packet = decode(bytes);
  if (packet instanceof DecodeError) throw new Error(`bad response: ${packet.code}`);
  const attrs = parseAttributes(packet);
  if (attrs instanceof DecodeError) throw new Error('bad response attributes');
  return { type: packet.type, attrs, packet };
}

t.test('tr111.md example: challenged first, then believed after MESSAGE-INTEGRITY, then trusted', async (t) => {
  const { handler, presence, slot, events } = setup();
  const first = handler.handle(TR111_EXAMPLE, FROM, 0);
  t.equal(first.outcome, 'challenged');
  const r1 = answer(first.response);
  t.equal(r1.type, MessageType.BindingError);
  t.same(r1.attrs, [{ kind: 'ERROR-CODE', code: 401, reason: 'Unauthorized' }]);
  t.same(r1.packet.transactionId, TR111_EXAMPLE.subarray(4, 20), 'the RFC 3489 transaction id is echoed');
  t.equal(presence.view(slot).online, false, 'a challenge changes nothing');

  const signed = handler.handle(cpeRequest({ username: 'stun-user', padUsername: true, connectionRequestBinding: true, integrity: { password: 'stun-pass', variant: 'rfc3489' } }), FROM, 1000);
  t.equal(signed.outcome, 'answered');
  const r2 = answer(signed.response);
  t.equal(r2.type, MessageType.BindingSuccess);
  t.same(r2.attrs[0], { kind: 'MAPPED-ADDRESS', address: { family: 'IPv4', address: '203.0.113.7', port: 50123 } });
  t.equal(verifyIntegrity(r2.packet, 'stun-pass', ['rfc3489']), 'rfc3489', 'the response is signed in the layout the CPE used');
  t.same(presence.view(slot), { online: true, lastSeen: 1000, binding: { address: '203.0.113.7', port: 50123 }, natId: '203.0.113.7', bindingChangedAt: 1000 });

  // The very bytes of the example, from the same address and port: trusted now, answered with the sender's address.
  const again = handler.handle(TR111_EXAMPLE, FROM, 2000);
  t.equal(again.outcome, 'answered');
  const r3 = answer(again.response);
  t.same(r3.attrs, [{ kind: 'MAPPED-ADDRESS', address: { family: 'IPv4', address: '203.0.113.7', port: 50123 } }]);
  t.ok(again.response!.length <= 2 * TR111_EXAMPLE.length);
  t.equal(presence.view(slot).lastSeen, 2000);
  t.same(events, ['online 0', 'binding 0 -->50123']);
});

t.test('every MESSAGE-INTEGRITY layout of tr111.md §1 is accepted, RFC 3489 and RFC 5389 alike', async (t) => {
  for (const dialect of ['rfc3489', 'rfc5389'] as const) {
    for (const variant of INTEGRITY_VARIANTS) {
      const { handler, presence, slot } = setup();
      const req = cpeRequest({ dialect, username: 'stun-user', connectionRequestBinding: true, integrity: { password: 'stun-pass', variant } });
      const r = handler.handle(req, FROM, 5);
      t.equal(r.outcome, 'answered', `${dialect} ${variant}`);
      const res = answer(r.response);
      const kinds = res.attrs.map((a) => a.kind);
      t.same(kinds, dialect === 'rfc5389' ? ['XOR-MAPPED-ADDRESS', 'MESSAGE-INTEGRITY', 'FINGERPRINT'] : ['MAPPED-ADDRESS', 'MESSAGE-INTEGRITY'], `${dialect} ${variant}: answered in its dialect`);
      t.equal(verifyIntegrity(res.packet, 'stun-pass', [variant]), variant);
      t.equal(presence.variantOf(slot), variant, 'remembered, to be tried first next time');
    }
  }
});

t.test('a wrong password and an unknown username get byte-identical 401s and change nothing', async (t) => {
  const { handler, presence, slot, events } = setup();
  const id = Buffer.alloc(16, 7);
  const wrong = handler.handle(cpeRequest({ username: 'stun-user', transactionId: id, integrity: { password: 'guess', variant: 'rfc3489' } }), FROM, 10);
  const unknown = handler.handle(cpeRequest({ username: 'stun-usr', transactionId: id, integrity: { password: 'stun-pass', variant: 'rfc3489' } }), FROM, 10);
  const unknownPlain = handler.handle(cpeRequest({ username: 'nobody', transactionId: id }), FROM, 10);
  t.equal(wrong.outcome, 'rejected');
  t.equal(unknown.outcome, 'rejected');
  t.same(wrong.response, unknown.response);
  t.same(unknownPlain.response, unknown.response);
  t.same(presence.view(slot), { online: false, lastSeen: null, binding: null, natId: null, bindingChangedAt: null });
  t.same(presence.takeDirty(), [], 'nothing to flush');
  t.same(events, []);
});

t.test('[stun] integrity = "always": no trust without MESSAGE-INTEGRITY', async (t) => {
  const { handler } = setup('always');
  const signed = cpeRequest({ username: 'stun-user', integrity: { password: 'stun-pass', variant: 'zero-length' } });
  t.equal(handler.handle(signed, FROM, 0).outcome, 'answered');
  t.equal(handler.handle(cpeRequest({ username: 'stun-user' }), FROM, 1).outcome, 'challenged');
});

t.test('"binding": trust is per (device, address, port) and expires after reauth_after', async (t) => {
  const { handler } = setup();
  handler.handle(cpeRequest({ username: 'stun-user', integrity: { password: 'stun-pass', variant: 'rfc3489' } }), FROM, 0);
  const plain = cpeRequest({ username: 'stun-user' });
  t.equal(handler.handle(plain, FROM, 9 * MINUTE).outcome, 'answered');
  t.equal(handler.handle(plain, { ...FROM, port: FROM.port + 1 }, 9 * MINUTE).outcome, 'challenged', 'another port');
  t.equal(handler.handle(plain, { ...FROM, address: '203.0.113.8' }, 9 * MINUTE).outcome, 'challenged', 'another address');
  t.equal(handler.handle(plain, FROM, 10 * MINUTE).outcome, 'challenged', 'trust expired');
});

t.test('the connection-request binding is learnt only from requests carrying 0xC001', async (t) => {
  const { handler, presence, slot, events } = setup('always');
  const auth = { password: 'stun-pass', variant: 'rfc3489' as const };
  handler.handle(cpeRequest({ username: 'stun-user', integrity: auth }), FROM, 0);
  t.equal(presence.view(slot).binding, null, 'a keepalive without 0xC001 says nothing about the binding');
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true, bindingChange: true, integrity: auth }), { ...FROM, port: 40000 }, 1);
  t.same(presence.view(slot).binding, { address: '203.0.113.7', port: 40000 });
  handler.handle(cpeRequest({ username: 'stun-user', integrity: auth }), { ...FROM, port: 40001 }, 2);
  t.same(presence.view(slot).binding, { address: '203.0.113.7', port: 40000 }, 'unchanged by other ports');
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true, integrity: auth }), { address: '198.51.100.1', port: 40002, family: 'IPv4' }, 3);
  t.same(presence.view(slot), { online: true, lastSeen: 3, binding: { address: '198.51.100.1', port: 40002 }, natId: '198.51.100.1', bindingChangedAt: 3 });
  handler.handle(cpeRequest({ username: 'stun-user', bindingChange: true, integrity: auth }), FROM, 4);
  t.same(events, ['online 0', 'binding 0 -->40000 reported', 'binding 0 40000->40002', 'binding 0 40002->40002 reported']);
});

t.test('devices behind one gateway share the NAT id', async (t) => {
  const { handler, presence, table } = setup('always');
  const second = table.add({ id: 'stb-2', stunUsername: 'second', stunPassword: 'pw2' });
  presence.ensureCapacity(table.slotCount);
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true, integrity: { password: 'stun-pass', variant: 'rfc3489' } }), { ...FROM, port: 1111 }, 0);
  handler.handle(cpeRequest({ username: 'second', connectionRequestBinding: true, integrity: { password: 'pw2', variant: 'rfc3489' } }), { ...FROM, port: 2222 }, 0);
  t.equal(presence.view(0).natId, '203.0.113.7');
  t.equal(presence.view(second).natId, '203.0.113.7');
});

t.test('unknown comprehension-required attributes: 420 for RFC 5389 clients, ignored for RFC 3489 agents', async (t) => {
  const { handler, presence, slot } = setup('always');
  const extra = [{ kind: 'OTHER' as const, type: 0x0024, value: Buffer.alloc(4) }];
  const auth = { password: 'stun-pass', variant: 'rfc5389' as const };
  const r = handler.handle(cpeRequest({ dialect: 'rfc5389', username: 'stun-user', extra, integrity: auth }), FROM, 0);
  t.equal(r.outcome, 'rejected');
  const res = answer(r.response);
  t.same(res.attrs.slice(0, 2), [{ kind: 'ERROR-CODE', code: 420, reason: 'Unknown Attribute' }, { kind: 'UNKNOWN-ATTRIBUTES', types: [0x0024] }]);
  t.equal(presence.view(slot).online, false);
  const legacy = handler.handle(cpeRequest({ username: 'stun-user', extra, integrity: { password: 'stun-pass', variant: 'rfc3489' } }), FROM, 0);
  t.equal(legacy.outcome, 'answered');
  const optional = handler.handle(cpeRequest({ dialect: 'rfc5389', username: 'stun-user', extra: [{ kind: 'SOFTWARE', value: 'agent' }], integrity: auth }), FROM, 0);
  t.equal(optional.outcome, 'answered', 'comprehension-optional attributes are fine');
});

t.test('anonymous Binding Requests: the mapped address only (or 401), never state', async (t) => {
  const { handler, presence } = setup();
  const r = handler.handle(cpeRequest({ dialect: 'rfc5389' }), FROM, 0);
  t.equal(r.outcome, 'anonymous');
  t.same(answer(r.response).attrs.map((a) => a.kind), ['XOR-MAPPED-ADDRESS', 'FINGERPRINT']);
  t.equal(presence.onlineCount, 0);
  const strict = setup('binding', false);
  const refused = strict.handler.handle(cpeRequest({}), FROM, 0);
  t.equal(refused.outcome, 'rejected');
  t.equal(answer(refused.response).attrs[0]?.kind, 'ERROR-CODE');
});

t.test('no response is ever larger than twice its request', async (t) => {
  const { handler } = setup();
  const v6: Endpoint & { family: 'IPv6' } = { address: '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535, family: 'IPv6' };
  const requests = [cpeRequest({ dialect: 'rfc5389', fingerprint: false }), cpeRequest({ dialect: 'rfc3489' }), cpeRequest({ dialect: 'rfc5389', username: 'x', fingerprint: false })];
  for (const req of requests) {
    for (const from of [FROM, v6]) {
      const r = handler.handle(req, from, 0);
      if (r.response) t.ok(r.response.length <= 2 * req.length, `${r.response.length} <= 2 × ${req.length}`);
    }
  }
  const bare6 = handler.handle(cpeRequest({ dialect: 'rfc5389', fingerprint: false }), v6, 0);
  t.equal(bare6.response, undefined, 'a 20-byte request from IPv6 cannot be answered within 40 bytes: no answer');
});

t.test('malformed datagrams are dropped without an answer', async (t) => {
  const { handler } = setup();
  for (const bytes of [Buffer.alloc(0), Buffer.from('GET / HTTP/1.1\r\n\r\n'), hex('0101 0000 2112a442 000000000000000000000000'), TR111_EXAMPLE.subarray(0, 30)]) {
    const r = handler.handle(bytes, FROM, 0);
    t.equal(r.outcome, 'malformed');
    t.equal(r.response, undefined);
  }
});

t.test('what reaches the store when: significant changes within a second, last-seen moves by the slower sweep', async (t) => {
  const { handler, presence, slot } = setup();
  const auth = { password: 'stun-pass', variant: 'rfc3489' as const };
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true, integrity: auth }), FROM, 0);
  t.same(presence.takeDirty(), [slot], 'online with a binding: flushed within a second');
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true }), FROM, 30_000);
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true, integrity: auth }), FROM, 60_000);
  t.same(presence.takeDirty(), [], 'the same binding and source: nothing urgent');
  t.same(presence.takeStale(), [slot], 'but the last-seen time is written by the sweep');
  t.same(presence.takeStale(), []);
  handler.handle(cpeRequest({ username: 'stun-user', connectionRequestBinding: true, integrity: auth }), { ...FROM, port: 1 }, 90_000);
  t.same(presence.takeDirty(), [slot], 'a new binding is urgent again');
  t.same(presence.takeStale(), [], 'and written in full, so not stale');
});

t.test('a signed keepalive is believed once: the same bytes from another source are refused and change nothing', async (t) => {
  const { handler, presence, slot, events } = setup();
  const captured = cpeRequest({ username: 'stun-user', connectionRequestBinding: true, integrity: { password: 'stun-pass', variant: 'rfc3489' } });
  t.equal(handler.handle(captured, FROM, 1000).outcome, 'answered');
  presence.takeDirty();
  const before = presence.view(slot);

  const thief = { ...FROM, port: FROM.port + 1 };
  const replayed = handler.handle(captured, thief, 2000);
  t.equal(replayed.outcome, 'replayed');
  t.same(answer(replayed.response).attrs, [{ kind: 'ERROR-CODE', code: 401, reason: 'Unauthorized' }]);
  t.same(presence.view(slot), before, 'binding and last-seen unchanged');
  t.notOk(presence.isTrusted(slot, thief, 2000, 10 * MINUTE), 'the other source is not trusted');
  t.same(presence.takeDirty(), [], 'nothing to flush');
  t.equal(handler.handle(captured, { ...FROM, address: '198.51.100.9' }, 2000).outcome, 'replayed', 'from another address too');

  // RFC 5389 §7.2.1: the answer was lost, the client sends the same request again from the same source.
  const again = handler.handle(captured, FROM, 3000);
  t.equal(again.outcome, 'retransmitted');
  const r = answer(again.response);
  t.same(r.attrs[0], { kind: 'MAPPED-ADDRESS', address: { family: 'IPv4', address: '203.0.113.7', port: 50123 } });
  t.equal(verifyIntegrity(r.packet, 'stun-pass', ['rfc3489']), 'rfc3489', 'answered as the first time, signed');
  t.equal(presence.view(slot).lastSeen, 1000, 'but not taken as news of the device: a spoofed copy cannot keep it online');
  t.same(events, ['online 0', 'binding 0 -->50123']);

  // A fresh transaction from the device is news again.
  t.equal(handler.handle(cpeRequest({ username: 'stun-user', integrity: { password: 'stun-pass', variant: 'rfc3489' } }), FROM, 4000).outcome, 'answered');
  t.equal(presence.view(slot).lastSeen, 4000);
});

t.test('the last four signed transaction ids of a device are remembered, in any dialect', async (t) => {
  const { handler } = setup('always');
  const sent = ['rfc3489', 'rfc5389', 'rfc3489', 'rfc5389', 'rfc3489'].map((dialect) =>
    cpeRequest({ dialect: dialect as 'rfc3489' | 'rfc5389', username: 'stun-user', integrity: { password: 'stun-pass', variant: 'rfc3489' } }),
  );
  for (const [i, req] of sent.entries()) t.equal(handler.handle(req, FROM, i).outcome, 'answered');
  const elsewhere = { ...FROM, port: 1 };
  for (const req of sent.slice(1)) t.equal(handler.handle(req, elsewhere, 10).outcome, 'replayed');
  // Keepalives carry no time: an id pushed out by four newer ones is unknown again (docs/protocols.md).
  t.equal(handler.handle(sent[0]!, elsewhere, 10).outcome, 'answered');
});

t.test('an unknown username costs what a wrong password costs: the same check, with a decoy key', async (t) => {
  const calls: { key: string; order: number }[] = [];
  const verify: typeof verifyIntegrity = (packet, key, order) => {
    calls.push({ key: Buffer.from(key).toString(), order: order?.length ?? 0 });
    return verifyIntegrity(packet, key, order);
  };
  const { handler } = setup('binding', true, { verify });
  const id = Buffer.alloc(16, 9);
  const unknown = handler.handle(cpeRequest({ username: 'nobody', transactionId: id, integrity: { password: 'guess', variant: 'rfc3489' } }), FROM, 0);
  const wrong = handler.handle(cpeRequest({ username: 'stun-user', transactionId: id, integrity: { password: 'guess', variant: 'rfc3489' } }), FROM, 0);
  t.same(calls, [
    { key: DECOY.toString(), order: 3 },
    { key: 'stun-pass', order: 3 },
  ]);
  t.same([unknown.outcome, wrong.outcome], ['rejected', 'rejected']);
  t.same(unknown.response, wrong.response);
});

t.test('a flood from one source: answered up to its allowance, then dropped unchecked; other sources still answered', async (t) => {
  let checks = 0;
  const verify: typeof verifyIntegrity = (...args) => (checks++, verifyIntegrity(...args));
  const { handler, clock } = setup('binding', true, { verify });
  const flooder = { ...FROM, address: '192.0.2.66' };
  const bad = () => cpeRequest({ username: 'stun-user', integrity: { password: 'guess', variant: 'rfc3489' } });
  // failures: 10 a second, 100 in a row.
  for (let i = 0; i < 100; i++) t.equal(handler.handle(bad(), flooder, 0).outcome, 'rejected');
  const last = handler.handle(bad(), { ...flooder, port: 9 }, 0);
  t.same([last.outcome, last.response, checks], ['throttled', undefined, 100], 'the 101st is dropped before the HMAC, from any port');
  t.equal(handler.handle(cpeRequest({ username: 'stun-user', integrity: { password: 'stun-pass', variant: 'rfc3489' } }), FROM, 0).outcome, 'answered', 'another source');
  clock.ms += 100;
  t.equal(handler.handle(bad(), flooder, 0).outcome, 'rejected', 'a token back after 100 ms');
  t.equal(handler.handle(bad(), flooder, 0).outcome, 'throttled');

  // challenges (401 to unsigned requests): 100 a second, 1000 in a row; a known and an unknown user spend alike.
  for (let i = 0; i < 1000; i++) handler.handle(cpeRequest({ username: i % 2 ? 'stun-user' : 'nobody' }), flooder, 0);
  t.equal(handler.handle(cpeRequest({ username: 'stun-user' }), flooder, 0).outcome, 'throttled');
  t.equal(handler.handle(cpeRequest({ username: 'nobody' }), flooder, 0).outcome, 'throttled');
  t.equal(handler.handle(cpeRequest({ username: 'stun-user' }), FROM, 0).outcome, 'answered', 'the trusted source is answered');
  t.equal(handler.handle(cpeRequest({ dialect: 'rfc5389' }), flooder, 0).outcome, 'anonymous', 'anonymous requests are not refusals');
});

t.test('refusals say whose allowance they spent, and when it ran out', async (t) => {
  const { handler } = setup();
  const v6 = { address: '2001:db8:1:2:aaaa::1', port: 1, family: 'IPv6' as const };
  const r = handler.handle(cpeRequest({ username: 'stun-user', integrity: { password: 'guess', variant: 'rfc3489' } }), v6, 0);
  t.match(r, { outcome: 'rejected', source: '2001:db8:1:2::/64', failedLogin: true, claimed: 0 });
  t.equal(r.overLimit, undefined);
  for (let i = 0; i < 98; i++) handler.handle(cpeRequest({ username: 'nobody', integrity: { password: 'x', variant: 'rfc3489' } }), { ...v6, address: `2001:db8:1:2::${i + 2}` }, 0);
  const lastOne = handler.handle(cpeRequest({ username: 'nobody', integrity: { password: 'x', variant: 'rfc3489' } }), v6, 0);
  t.match(lastOne, { outcome: 'rejected', overLimit: 'failures', failedLogin: true });
  t.equal(lastOne.claimed, undefined);
  t.match(handler.handle(cpeRequest({ username: 'nobody' }), FROM, 0), { outcome: 'rejected', source: '203.0.113.7', failedLogin: true });
  t.match(handler.handle(cpeRequest({ username: 'stun-user' }), FROM, 0), { outcome: 'challenged', source: '203.0.113.7' });
});

t.test('presence a failed flush could not write is written with the next one', async (t) => {
  const { presence, slot } = setup();
  presence.accept(slot, { address: '198.51.100.7', port: 40000 }, 1000, 'rfc5389', true, false);
  const first = presence.takeDirty();
  t.same(first, [slot]);
  t.same(presence.takeDirty(), [], 'taken');
  presence.requeue(first);
  presence.requeue(first);
  t.same(presence.takeDirty(), [slot], 'back for the next flush, once');
});
