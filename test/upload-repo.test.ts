import { createHash } from 'node:crypto';
import t from 'tap';
import { PgUploadRepo } from '../src/management/pg-upload-repo.js';
import { SqliteUploadRepo } from '../src/management/sqlite-upload-repo.js';
import type { NewUpload, UploadRepo } from '../src/management/upload-repo.js';
import { engines, type Store } from './helpers/engines.js';

const repoOf = (s: Store): UploadRepo => (s.engine === 'sqlite' ? new SqliteUploadRepo(s.db) : new PgUploadRepo(s.pool));

async function addDevices(s: Store, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    await s.query('INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [id, `s-${id}`, 'x', 'c', 'x', `w-${id}`, 'x', 0, 0]);
  }
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const file = (deviceId: string, taskId: number, content: Buffer, receivedAt: number): NewUpload => ({
  deviceId,
  taskId,
  fileType: '1 Vendor Configuration File',
  contentType: 'text/plain',
  size: content.length,
  sha256: createHash('sha256').update(content).digest('hex'),
  receivedAt,
  content,
});

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('put, get, content (every byte value), a device list newest first, the newest of a task', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s);
      const a = await repo.put(file('d1', 10, ALL_BYTES, 1000), 5, 900);
      t.match(a, { deviceId: 'd1', taskId: 10, fileType: '1 Vendor Configuration File', contentType: 'text/plain', size: 256, receivedAt: 1000 });
      t.same(await repo.get(a.id), a);
      t.same(await repo.content(a.id), ALL_BYTES);
      const empty = await repo.put(file('d1', 11, Buffer.alloc(0), 2000), 5, 1900);
      t.same(await repo.content(empty.id), Buffer.alloc(0), 'an empty file is a file');
      await repo.put(file('d2', 12, Buffer.from('x'), 3000), 5, 2900);
      t.same((await repo.ofDevice('d1', 10)).map((u) => u.id), [empty.id, a.id]);
      t.same((await repo.ofDevice('d1', 1)).map((u) => u.id), [empty.id]);
      t.equal((await repo.ofTask(10, 900))?.id, a.id);
      t.equal(await repo.ofTask(10, 1001), undefined, 'received before the task was sent: not its file');
      t.equal(await repo.get(999_999), undefined);
      t.equal(await repo.content(999_999), undefined);
    });

    t.test('a second file for the same task replaces the first; only the newest `keep` per device are kept', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s);
      const first = await repo.put(file('d1', 10, Buffer.from('one'), 1000), 3, 900);
      const again = await repo.put(file('d1', 10, Buffer.from('two'), 1100), 3, 900);
      t.match(first, { taskId: 10, receivedAt: 1000 });
      t.same((await repo.ofDevice('d1', 10)).map((u) => [u.taskId, u.receivedAt]), [[10, 1100]], 'the CPE sent it again: replaced');
      t.same((await repo.content(again.id))?.toString(), 'two');
      const other = await repo.put(file('d2', 20, Buffer.from('d2'), 1000), 3, 900);
      for (let i = 0; i < 5; i++) await repo.put(file('d1', 30 + i, Buffer.from(`f${i}`), 2000 + i), 3, 1900);
      t.same((await repo.ofDevice('d1', 10)).map((u) => u.taskId), [34, 33, 32], 'the three newest');
      t.ok(await repo.get(other.id), "another device's uploads are not touched");
    });

    t.test('concurrent puts of one device keep exactly `keep`; a removed device takes its uploads along', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      await Promise.all(Array.from({ length: 20 }, (_, i) => repo.put(file('d1', 100 + i, Buffer.alloc(1000, i), 5000 + i), 4, 0)));
      t.equal((await repo.ofDevice('d1', 100)).length, 4);
      await s.query('DELETE FROM devices WHERE id = $1', ['d1']);
      t.same(await repo.ofDevice('d1', 100), []);
    });
  });
}
