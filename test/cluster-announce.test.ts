import t from 'tap';
import { ANNOUNCE_BYTES, announcements, parseAnnouncement } from '../src/cluster/node-repo.js';
import { nodeIdOf } from '../src/cluster/node-id.js';

t.test('device announcements: batched under PostgreSQL\'s payload limit, every id once, read back as sent', async (t) => {
  const changes = [...Array.from({ length: 5000 }, (_, i) => `+stb with a long id ${i}`), '-gone-1'];
  const payloads = announcements('node-a', changes);
  t.ok(payloads.length > 1, `${payloads.length} notifications`);
  t.ok(payloads.every((p) => Buffer.byteLength(p) <= ANNOUNCE_BYTES), 'each within the limit');
  const read = payloads.map(parseAnnouncement);
  t.ok(read.every((r) => r.from === 'node-a'));
  t.same(read.flatMap((r) => r.added), changes.slice(0, -1).map((c) => c.slice(1)));
  t.same(read.flatMap((r) => r.removed), ['gone-1']);
  t.same(announcements('node-a', []), [], 'nothing to say: no notification');
});

t.test('node ids: the host name by default, its first label; one that cannot name a channel is refused with the key', async (t) => {
  t.equal(nodeIdOf('', 'stbd-3.example.net'), 'stbd-3');
  t.equal(nodeIdOf('edge_1', 'ignored'), 'edge_1');
  t.throws(() => nodeIdOf('', 'host name'), { message: /^\[cluster\] node_id: the host name "host name" cannot be a node id .*; set \[cluster\] node_id$/ });
});
