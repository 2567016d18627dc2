import t from 'tap';
import { homeOf, Steering } from '../src/cluster/steering.js';

const nodes = (...ids: string[]) => ids.map((id) => ({ id, stunAddress: `stun-${id}.example.net:3478` }));
const devices = Array.from({ length: 3000 }, (_, i) => `stb-${i}`);

t.test('hash steering: a stable home per device, spread over the nodes; a node leaving moves only its own devices', async (t) => {
  const three = nodes('a', 'b', 'c');
  const before = new Map(devices.map((d) => [d, homeOf(d, three)!.id]));
  const counts = ['a', 'b', 'c'].map((n) => [...before.values()].filter((h) => h === n).length);
  t.ok(counts.every((n) => n > 800 && n < 1200), `about a third each (${counts.join(', ')})`);
  t.same(devices.map((d) => homeOf(d, [...three].reverse())!.id), [...before.values()], 'the order the nodes are listed in does not matter');
  const after = new Map(devices.map((d) => [d, homeOf(d, nodes('a', 'c'))!.id]));
  t.same(devices.filter((d) => before.get(d) !== after.get(d)), devices.filter((d) => before.get(d) === 'b'), 'only b\'s devices move');
  const s = new Steering('a', 'hash');
  s.update(three);
  t.same(s.choose('stb-7', () => false), { host: `stun-${before.get('stb-7')}.example.net`, port: 3478 });
});

t.test('session steering: an STB stays on its live home; it moves to the session\'s node when its home is gone; nothing without STUN addresses', async (t) => {
  const s = new Steering('a', 'session');
  t.equal(s.choose('stb-1', () => true), undefined, 'no live nodes known: the configured advert');
  s.update([...nodes('a', 'b'), { id: 'c', stunAddress: '' }]);
  const onB = (a: { host: string }) => a.host === 'stun-b.example.net';
  t.same(s.choose('stb-1', onB), { host: 'stun-b.example.net', port: 3478 }, 'provisioned for b, b alive: stays (no flapping behind a load balancer)');
  t.same(s.choose('stb-2', () => false), { host: 'stun-a.example.net', port: 3478 }, 'not provisioned for a live node: the session\'s node');
  s.update(nodes('a'));
  t.same(s.choose('stb-1', onB), { host: 'stun-a.example.net', port: 3478 }, 'b dead: re-homed to the session\'s node');
});
