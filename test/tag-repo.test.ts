import t from 'tap';
import { PgTagRepo } from '../src/devices/pg-tag-repo.js';
import { SqliteTagRepo } from '../src/devices/sqlite-tag-repo.js';
import type { TagRepo } from '../src/devices/tag-repo.js';
import { planTagChange, tagProblem } from '../src/devices/tag-rules.js';
import { changeProblem, DeviceTags, TagInputError } from '../src/devices/tags.js';
import { engines, type Store } from './helpers/engines.js';

const repoOf = (s: Store): TagRepo => (s.engine === 'sqlite' ? new SqliteTagRepo(s.db) : new PgTagRepo(s.pool));

async function addDevices(s: Store, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    await s.query("INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at, cr_generated) VALUES ($1, $2, 'x', $3, 'x', $4, 'x', 1, 1, 0)", [id, `s-${id}`, id, `w-${id}`]);
  }
}

t.test('tag syntax and change rules', async (t) => {
  for (const ok of ['pilot', 'region:north', 'fw-3.2_beta', 'A', '4k', 'x'.repeat(64)]) t.equal(tagProblem(ok), undefined, ok);
  t.equal(tagProblem(''), 'a tag cannot be empty');
  t.equal(tagProblem('x'.repeat(65)), '"xxxxxxxxxxxxxxxxxxxx…" is longer than 64 characters');
  for (const bad of ['two words', '-lead', '.dot', 'ümlaut', 'a,b', "it's", 'a*']) t.match(tagProblem(bad), /is not a valid tag: letters and digits, and \. _ : - after the first character$/, bad);
  t.equal(changeProblem([], []), 'give at least one tag to add or remove');
  t.equal(changeProblem(['a'], ['a']), '"a" is both added and removed');
  t.equal(changeProblem(Array.from({ length: 33 }, (_, i) => `t${i}`), []), 'at most 32 tags to add and 32 to remove at once');

  const current = new Map([['d1', ['a', 'b']], ['d2', []]]);
  t.same(planTagChange(['d1', 'd2', 'ghost'], current, ['c'], ['a'], 3), [
    { device: 'd1', kind: 'change', tags: ['b', 'c'], added: ['c'], removed: ['a'] },
    { device: 'd2', kind: 'change', tags: ['c'], added: ['c'], removed: [] },
    { device: 'ghost', kind: 'refused', code: 'not-found', message: 'device "ghost" not found' },
  ]);
  t.same(planTagChange(['d1'], current, ['c', 'd'], [], 3), [{ device: 'd1', kind: 'refused', code: 'too-many-tags', message: 'device "d1" would have 4 tags; at most 3 are allowed' }]);
  t.same(planTagChange(['d1'], current, [], ['a'], 1), [{ device: 'd1', kind: 'change', tags: ['b'], added: [], removed: ['a'] }], 'a device over a lowered cap may still lose tags');
});

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('add, remove, read; unknown devices and the cap refused without change', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ['d1', 'd2', 'd3']);
      const plans = await repo.change(['d1', 'd2', 'nobody'], ['pilot', 'region:north'], [], 3, 1000);
      t.same(plans.map((p) => [p.device, p.kind]), [['d1', 'change'], ['d2', 'change'], ['nobody', 'refused']]);
      t.same(await repo.of(['d1', 'd2', 'd3']), new Map([['d1', ['pilot', 'region:north']], ['d2', ['pilot', 'region:north']]]), 'd3 has none, so is absent');

      const again = await repo.change(['d1'], ['pilot'], [], 3, 2000);
      t.same(again, [{ device: 'd1', kind: 'change', tags: ['pilot', 'region:north'], added: [], removed: [] }], 'adding a tag twice changes nothing');
      t.same(await s.query("SELECT added_at FROM device_tags WHERE device_id = 'd1' AND tag = 'pilot'"), [{ added_at: 1000 }], 'and keeps when it was first added');

      const over = await repo.change(['d1', 'd2'], ['a', 'b'], ['region:north'], 3, 3000);
      t.same(over.map((p) => p.kind), ['change', 'change'], 'the removal makes room');
      const full = await repo.change(['d1', 'd3'], ['z'], ['pilot'], 3, 4000);
      t.same(full.map((p) => p.kind), ['change', 'change'], 'swapping one tag for another at the cap');
      t.same((await repo.of(['d1'])).get('d1'), ['a', 'b', 'z']);
      const refused = await repo.change(['d1'], ['p', 'q'], ['a'], 3, 5000);
      t.match(refused, [{ kind: 'refused', code: 'too-many-tags' }]);
      t.same((await repo.of(['d1'])).get('d1'), ['a', 'b', 'z'], 'a refused device keeps its tags, the removal too');
      t.same((await repo.of(['d3'])).get('d3'), ['z']);
    });

    t.test('tags go with their device', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ['d1']);
      await repo.change(['d1'], ['x'], [], 32, 1);
      await s.query("DELETE FROM devices WHERE id = 'd1'");
      t.same(await s.query('SELECT * FROM device_tags'), []);
    });

    t.test('concurrent changes of one device keep the cap', async (t) => {
      const s = await engine.open(t);
      const repo = repoOf(s);
      await addDevices(s, ['d1', 'd2']);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => repo.change(['d2', 'd1'], [`t${i}`], [], 5, i)));
      t.equal(results.filter(([p]) => p?.kind === 'change').length, 5, 'five changes fit');
      t.same([(await repo.of(['d1'])).get('d1')?.length, (await repo.of(['d2'])).get('d2')?.length], [5, 5]);
    });

    t.test('DeviceTags checks what callers give', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, ['d1']);
      const tags = new DeviceTags(repoOf(s), { now: () => 42 });
      await t.rejects(tags.change(['d1'], ['bad tag'], []), TagInputError);
      t.same(await tags.of('d1'), [], 'nothing changed');
      t.match(await tags.change(['d1', 'd1'], ['b', 'a', 'b'], []), [{ device: 'd1', kind: 'change', tags: ['a', 'b'] }], 'each device once, each tag once');
      t.same(await tags.of('d1'), ['a', 'b']);
      t.same(await tags.change([], ['a'], []), []);
    });
  });
}
