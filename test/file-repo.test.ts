import t from 'tap';
import type { StoredFile } from '../src/files/file-record.js';
import type { FileRepo } from '../src/files/file-repo.js';
import { PgFileRepo } from '../src/files/pg-file-repo.js';
import { SqliteFileRepo } from '../src/files/sqlite-file-repo.js';
import { engines, type Store } from './helpers/engines.js';

const repoOf = (s: Store): FileRepo => (s.engine === 'sqlite' ? new SqliteFileRepo(s.db) : new PgFileRepo(s.pool));

const file = (id: string, more: Partial<StoredFile> = {}): StoredFile => ({
  id,
  type: 'firmware',
  version: '2.1.0',
  size: 4 * 1024 ** 3 + 1,
  sha256: 'ab'.repeat(32),
  storedName: `${id}.0123456789ab`,
  addedAt: 1_790_000_000_000,
  ...more,
});

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('add, get, list by id, remove; product class and OUI only when given; sizes past 4 GiB', async (t) => {
      const repo = repoOf(await engine.open(t));
      const a = file('firmware-2.1.0');
      const b = file('firmware-2.0.0-stb-00d09e', { version: '2.0.0', productClass: 'STB', oui: '00D09E', size: 0 });
      t.equal(await repo.add(a), 'added');
      t.equal(await repo.add(b), 'added');
      t.same(await repo.get(a.id), a);
      t.same(await repo.get(b.id), b);
      t.equal(await repo.get('nope'), undefined);
      t.same((await repo.list()).map((f) => f.id), [b.id, a.id], 'by id');
      t.same(await repo.remove(a.id), a, 'the removed row comes back (its stored name: the bytes to delete)');
      t.equal(await repo.remove(a.id), undefined, 'a second removal finds nothing');
      t.same((await repo.list()).map((f) => f.id), [b.id]);
    });

    t.test('a second add of one id changes nothing, also when two race', async (t) => {
      const repo = repoOf(await engine.open(t));
      t.equal(await repo.add(file('firmware-3')), 'added');
      t.equal(await repo.add(file('firmware-3', { storedName: 'other', sha256: 'cd'.repeat(32) })), 'exists');
      t.equal((await repo.get('firmware-3'))?.storedName, 'firmware-3.0123456789ab', 'the first one stands');
      const outcomes = await Promise.all([1, 2, 3, 4].map((i) => repo.add(file('firmware-4', { storedName: `s${i}` }))));
      t.same(outcomes.filter((o) => o === 'added').length, 1, 'one of four concurrent adds');
      t.equal((await repo.list()).length, 2);
    });
  });
}
