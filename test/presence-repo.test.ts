import t from 'tap';
import { PgPresenceRepo, type PresenceRepo, SqlitePresenceRepo } from '../src/keepalive/presence-repo.js';
import type { PresenceRecord } from '../src/keepalive/presence.js';
import { engines, type Store } from './helpers/engines.js';

const repoOf = (s: Store, node = 'node-a'): PresenceRepo => (s.engine === 'sqlite' ? new SqlitePresenceRepo(s.db) : new PgPresenceRepo(s.pool, node));
// More devices than one page of the PostgreSQL start-up read (10,000), so paging is crossed twice.
const DEVICES = 25_003;
const COLUMNS = '(id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at)';

async function addDevices(s: Store): Promise<void> {
  // stun_password holds base64 (sealed bytes); "AQID" is [1, 2, 3].
  const row = "printf('d%06d', i), 'u' || i, 'AQID', 'cr', 'crp', 'w' || i, 'wp', 0, 0";
  if (s.engine === 'sqlite') s.db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${DEVICES}) INSERT INTO devices ${COLUMNS} SELECT ${row} FROM n`);
  else await s.query(`INSERT INTO devices ${COLUMNS} SELECT ${row.replace("printf('d%06d', i)", "'d' || lpad(i::text, 6, '0')")} FROM generate_series(1, ${DEVICES}) i`);
}

const record = (n: number, binding = true): PresenceRecord => ({
  lastSeen: 1_790_000_000_000 + n,
  source: { address: '198.51.100.7', port: 40_000 + n },
  authenticatedAt: 1_790_000_000_000,
  variant: 'rfc5389',
  binding: binding ? { address: '198.51.100.7', port: 50_000 + n } : null,
  bindingChangedAt: binding ? 1_790_000_000_000 : null,
});

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('start-up streams every device with its presence; a flush upserts a batch', async (t) => {
      const s = await engine.open(t);
      await addDevices(s);
      const repo = repoOf(s);
      await repo.write([
        ['d000001', record(1), false],
        ['d012345', record(2, false), false],
      ]);
      await repo.write([['d000001', record(3), false]]);
      const seen = new Map<string, PresenceRecord | null>();
      let password: Buffer | undefined;
      await repo.loadAll((device, presence) => {
        seen.set(device.id, presence);
        if (device.id === 'd020000') password = device.sealedStunPassword;
      });
      t.equal(seen.size, DEVICES, 'every device, each once');
      t.same(seen.get('d000001'), record(3), 'the later write wins');
      t.same(seen.get('d012345'), record(2, false), 'no binding stays no binding');
      t.equal(seen.get('d025003'), null, 'never seen: no presence');
      t.same(password, Buffer.from([1, 2, 3]), 'STUN passwords come as the sealed bytes stored');
    });

    t.test('start-up gives each device its own presence, across pages of devices and of presence rows', async (t) => {
      const s = await engine.open(t);
      await addDevices(s);
      const repo = repoOf(s);
      // Every other device seen (12,502 rows: more than a page of either), device n with lastSeen ending in n.
      const ids = Array.from({ length: DEVICES }, (_, i) => `d${String(i + 1).padStart(6, '0')}`);
      await repo.write(ids.filter((_, i) => i % 2 === 0).map((id, k) => [id, record(2 * k + 1), false] as const));
      let wrong = 0;
      let seen = 0;
      let count = 0;
      await repo.loadAll((device, presence) => {
        count++;
        const n = Number(device.id.slice(1));
        if (n % 2 === 1 ? presence?.lastSeen !== record(n).lastSeen : presence !== null) wrong++;
        if (presence) seen++;
      });
      t.equal(count, DEVICES, 'every device once');
      t.equal(seen, Math.ceil(DEVICES / 2), 'every presence row once');
      t.equal(wrong, 0, 'each with its own presence, or none');
    });

    t.test('a flush of thousands of devices is one write', async (t) => {
      const s = await engine.open(t);
      await addDevices(s);
      const repo = repoOf(s);
      const batch = Array.from({ length: 5000 }, (_, i) => [`d${String(i + 1).padStart(6, '0')}`, record(i), false] as const);
      await repo.write(batch);
      t.strictSame(await s.query('SELECT count(*) AS n FROM presence'), [{ n: 5000 }], 'counts come back as numbers on both engines');
    });

    t.test('a node loads only the bindings it holds, across pages; a device not held is read by its STUN username', async (t) => {
      const s = await engine.open(t);
      await addDevices(s);
      // 12,001 rows held by node-a (more than a page), some by node-b, the rest by nobody.
      await s.query("INSERT INTO presence (device_id, last_seen, node) SELECT id, 5, CASE WHEN stun_username < 'u2' THEN 'node-a' ELSE 'node-b' END FROM devices WHERE stun_username < 'u3'");
      const held = (await s.query("SELECT count(*) AS n FROM presence WHERE node = 'node-a'"))[0]!['n'];
      t.ok(Number(held) > 10_000, 'more held rows than one page of the start-up read');
      const ids: string[] = [];
      await repoOf(s).loadHeld('node-a', (d, p, node) => {
        ids.push(d.id);
        if (node !== 'node-a' || p?.lastSeen !== 5) t.fail(`${d.id}: ${node} ${JSON.stringify(p)}`);
      });
      t.equal(ids.length, Number(held), 'every device node-a holds, none other');
      t.equal(await repoOf(s).countHeld('node-a'), ids.length, 'counted before the read, to size memory for it');
      t.equal(await repoOf(s).countHeld('node-z'), 0);
      t.equal(new Set(ids).size, ids.length, 'each once');
      // A start-up read that fails half way (here: its consumer) leaves no connection inside its transaction.
      await t.rejects(repoOf(s).loadHeld('node-a', () => { throw new Error('consumer failed'); }), /consumer failed/);
      for (let i = 0; i < 12; i++) await repoOf(s).write([['d000001', record(i), false]]);
      t.strictSame(await s.query("SELECT count(*) AS n FROM presence WHERE node = 'node-a'"), [{ n: Number(held) }], 'the store takes writes after it');
      t.strictSame(await s.query("SELECT last_seen FROM presence WHERE device_id = 'd000001'"), [{ last_seen: record(11).lastSeen }], 'the last of them landed');
      const found = await repoOf(s).byStunUsernames(['u20001', 'nobody', 'u9999']);
      const shown = found.map((f) => ({ id: f.device.id, stunUsername: f.device.stunUsername, password: [...f.device.sealedStunPassword], node: f.node, seen: f.presence?.lastSeen ?? null }));
      t.same(
        shown.sort((x, y) => x.id.localeCompare(y.id)),
        [
          { id: 'd009999', stunUsername: 'u9999', password: [1, 2, 3], node: null, seen: null },
          { id: 'd020001', stunUsername: 'u20001', password: [1, 2, 3], node: 'node-b', seen: 5 },
        ],
        'read in one go with their presence and the node holding each (never seen: none); an unknown name: nothing',
      );
      t.same(await repoOf(s).byStunUsernames([]), []);
      // u1… rows are node-a's, u2… node-b's, all seen at 5; u30 has none.
      const some = ['d000001', 'd020001', 'd020002', 'd000030'];
      t.same(await repoOf(s, 'node-a').seenElsewhere(some, 5), engine.name === 'postgres' ? ['d020001', 'd020002'] : [], 'online elsewhere: rows another node holds, seen recently (none on one node)');
      t.same(await repoOf(s, 'node-a').seenElsewhere(some, 6), [], 'seen before `since`: not online');
      t.same(await repoOf(s, 'node-a').seenElsewhere([], 0), []);
    });

    if (engine.name === 'postgres') {
      t.test('cluster: a write is fenced by the node holding the binding; a claim takes it over', async (t) => {
        const s = await engine.open(t);
        await addDevices(s);
        const a = repoOf(s, 'node-a');
        const b = repoOf(s, 'node-b');
        t.same(await a.write([['d000001', record(1), false], ['d000002', record(1), false]]), [], 'rows nobody held: written, now node-a\'s');
        t.same(await b.write([['d000002', record(9), true]]), [], 'node-b\'s STUN socket took d000002\'s binding over');
        // node-a was paused meanwhile and flushes what it had in memory: d000002 is node-b's now.
        t.same(await a.write([['d000001', record(2), false], ['d000002', record(3), false]]), [1], 'the second row of the batch was refused');
        const rows = await s.query("SELECT device_id, node, binding_port FROM presence WHERE device_id IN ('d000001', 'd000002') ORDER BY device_id");
        t.same(rows, [
          { device_id: 'd000001', node: 'node-a', binding_port: 50_002 },
          { device_id: 'd000002', node: 'node-b', binding_port: 50_009 },
        ], 'node-b\'s row and binding stand');
        const owners = new Map<string, string | null>();
        await a.loadAll((d, _p, node) => void owners.set(d.id, node));
        t.same([owners.get('d000001'), owners.get('d000002'), owners.get('d000003')], ['node-a', 'node-b', null], 'start-up reads who holds each binding');
      });
    }
  });
}
