import t from 'tap';
import { SealedBox } from '../src/ca/sealed-box.js';
import { PgTaskRepo } from '../src/management/pg-task-repo.js';
import { SqliteTaskRepo } from '../src/management/sqlite-task-repo.js';
import type { TaskRequest } from '../src/management/task.js';
import { type NewTask, TASK_EXPIRY, type TaskRepo } from '../src/management/task-repo.js';
import { engines, type Store } from './helpers/engines.js';

const box = new SealedBox(Buffer.alloc(32, 5));
const repoOf = (s: Store): TaskRepo => (s.engine === 'sqlite' ? new SqliteTaskRepo(s.db, box) : new PgTaskRepo(s.pool, box, 'node-a'));
const MAX = 3;

async function addDevices(s: Store, ...ids: string[]): Promise<void> {
  for (const id of ids) {
    await s.query('INSERT INTO devices (id, stun_username, stun_password, cr_username, cr_password, cwmp_username, cwmp_password, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)', [id, `s-${id}`, 'x', 'c', 'x', `w-${id}`, 'x', 0, 0]);
  }
}

const read = (name: string): TaskRequest => ({ kind: 'getParameterValues', names: [name] });
const secretSet: TaskRequest = { kind: 'setParameterValues', values: [{ name: 'Device.ManagementServer.Password', value: 'hunter2', type: 'xsd:string' }] };
const newTask = (deviceId: string, request: TaskRequest = read('Device.'), over: Partial<NewTask> = {}): NewTask => ({ deviceId, request, origin: 'api', idempotencyKey: null, createdAt: 1000, expiresAt: 10_000, ...over });
const created = async (repo: TaskRepo, t: NewTask) => {
  const o = await repo.queue(t);
  if (o.kind !== 'created') throw new Error(`expected a new task, got ${o.kind}`);
  return o.task;
};
const deadlines = async (s: Store) => (await s.query('SELECT key, due_at FROM timer_deadlines WHERE kind = $1 ORDER BY key', [TASK_EXPIRY])).map((r) => `${r['key']}@${r['due_at']}`);

for (const engine of engines(t)) {
  t.test(engine.name, async (t) => {
    t.test('queue: a task and its expiry deadline in one unit; idempotency keys per device; secrets sealed', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2');
      const repo = repoOf(s);
      const a = await created(repo, newTask('d1', read('Device.A'), { idempotencyKey: 'k' }));
      t.match(a, { deviceId: 'd1', status: 'queued', origin: 'api', idempotencyKey: 'k', createdAt: 1000, expiresAt: 10_000, attempts: 0, sentAt: null, result: null, fault: null });
      t.same(await deadlines(s), [`${a.id}@10000`]);
      t.same(await repo.queue(newTask('d1', read('Device.A'), { idempotencyKey: 'k', createdAt: 2000 })), { kind: 'existing', task: a }, 'the same request under the key: the same task');
      t.same(await repo.queue(newTask('d1', read('Device.B'), { idempotencyKey: 'k' })), { kind: 'conflict', existing: a });
      const other = await created(repo, newTask('d2', read('Device.A'), { idempotencyKey: 'k' }));
      t.not(other.id, a.id, 'keys are per device');
      t.not((await created(repo, newTask('d1'))).id, (await created(repo, newTask('d1'))).id, 'no key: a task each time');
      t.same(await repo.queue(newTask('gone')), { kind: 'unknown-device' });

      const secret = await created(repo, newTask('d1', secretSet, { idempotencyKey: 's' }));
      t.same(secret.request, { kind: 'setParameterValues', values: [{ name: 'Device.ManagementServer.Password', value: '(secret)', type: 'xsd:string' }] }, 'shown masked');
      t.same(await repo.sendable(secret), secretSet, 'sent whole');
      t.same(await repo.sendable(a), read('Device.A'));
      const [row] = await s.query('SELECT request, request_sealed FROM tasks WHERE id = $1', [secret.id]);
      t.notOk(JSON.stringify(row).includes('hunter2'), 'the secret is not stored as it is');
      t.equal((await s.query('SELECT request_sealed FROM tasks WHERE id = $1', [a.id]))[0]?.['request_sealed'], null, 'nothing to seal: nothing sealed');
      t.equal((await repo.queue(newTask('d1', secretSet, { idempotencyKey: 's' }))).kind, 'existing', 'a key compares the request with its secrets');
      t.equal((await repo.queue(newTask('d1', { ...secretSet, values: [{ ...secretSet.values[0]!, value: 'other' }] }, { idempotencyKey: 's' }))).kind, 'conflict');
    });

    t.test('reads: get, a device page newest first, open work', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1', 'd2', 'd3');
      const repo = repoOf(s);
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await created(repo, newTask('d1', read(`Device.${i}`)))).id);
      await created(repo, newTask('d2'));
      t.equal((await repo.get(ids[2]!))?.request.kind, 'getParameterValues');
      t.equal(await repo.get(999_999), undefined);
      t.same((await repo.ofDevice('d1', Number.MAX_SAFE_INTEGER, 2)).map((x) => x.id), [ids[4], ids[3]]);
      t.same((await repo.ofDevice('d1', ids[3]!, 10)).map((x) => x.id), [ids[2], ids[1], ids[0]]);
      t.equal(await repo.hasOpen('d1'), true);
      t.equal(await repo.hasOpen('d3'), false);
      t.same((await repo.devicesWithOpenTasks()).sort(), ['d1', 'd2']);
      t.same(await repo.countsByStatus(), { queued: 6 });
    });

    t.test('next: the FIFO head, one in flight; a head found sent goes again, then faults; expired ones close', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      t.same(await repo.next('d1', 1000, MAX), { sent: undefined, moved: [] });
      const a = await created(repo, newTask('d1', read('A')));
      const b = await created(repo, newTask('d1', read('B')));
      const c = await created(repo, newTask('d1', read('C'), { expiresAt: 3000 }));
      const d = await created(repo, newTask('d1', read('D')));
      const first = await repo.next('d1', 2000, MAX);
      t.match(first, { sent: { id: a.id, status: 'sent', attempts: 1, sentAt: 2000 }, moved: [] });
      const again = await repo.next('d1', 2001, MAX);
      t.match(again, { sent: { id: a.id, attempts: 2 }, moved: [{ kind: 'requeued', task: { id: a.id, status: 'queued' } }] }, 'never a second task while one is sent');
      await repo.next('d1', 2002, MAX);
      const past = await repo.next('d1', 2003, MAX);
      t.match(past.moved, [{ kind: 'finished', task: { id: a.id, status: 'fault', fault: { code: 0, message: 'the CPE did not answer in 3 sessions' } } }]);
      t.match(past.sent, { id: b.id, attempts: 1 });
      t.same(await deadlines(s), [b, c, d].map((x) => `${x.id}@${x.expiresAt}`).sort(), "a finished task's deadline goes with it");
      t.match(await repo.finish(b.id, 'sent', 'done', 4000, { ok: 1 }, null), { id: b.id, status: 'done', finishedAt: 4000, result: { ok: 1 } });
      const later = await repo.next('d1', 4000, MAX);
      t.match(later, { sent: { id: d.id }, moved: [{ kind: 'finished', task: { id: c.id, status: 'expired', finishedAt: 4000 } }] });
      t.same(await deadlines(s), [`${d.id}@${d.expiresAt}`]);
    });

    t.test('requeue after a lost session; guarded finish; results and faults as shown', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      const a = await created(repo, newTask('d1', secretSet));
      t.equal(await repo.requeue(a.id, 1500, MAX), undefined, 'not sent: nothing to requeue');
      await repo.next('d1', 2000, MAX);
      t.match(await repo.requeue(a.id, 2100, MAX), { kind: 'requeued', task: { status: 'queued', attempts: 1 } });
      for (let i = 0; i < 2; i++) {
        await repo.next('d1', 2200 + i, MAX);
        if (i === 0) await repo.requeue(a.id, 2300, MAX);
      }
      t.match(await repo.requeue(a.id, 2400, MAX), { kind: 'finished', task: { status: 'fault', finishedAt: 2400, fault: { message: 'the CPE did not answer in 3 sessions' } } });
      t.same(await deadlines(s), []);

      const b = await created(repo, newTask('d1'));
      t.equal(await repo.finish(b.id, 'sent', 'done', 3000, null, null), undefined, 'guarded by the expected status');
      t.match(await repo.finish(b.id, 'queued', 'cancelled', 3000, null, null), { status: 'cancelled', finishedAt: 3000 });
      t.equal(await repo.finish(b.id, 'queued', 'cancelled', 3001, null, null), undefined, 'once');
      const c = await created(repo, newTask('d1'));
      await repo.next('d1', 4000, MAX);
      const fault = { code: 9003, message: 'Invalid arguments', details: [{ parameter: 'Device.X', code: 9007, message: 'bad' }] };
      const failed = await repo.finish(c.id, 'sent', 'fault', 4100, { parameters: [{ name: 'Device.WiFi.PreSharedKey', value: 'k', type: 'xsd:string' }] }, fault);
      t.same(failed?.fault, fault);
      t.same(failed?.result, { parameters: [{ name: 'Device.WiFi.PreSharedKey', value: '(secret)', type: 'xsd:string' }] }, 'results are stored as shown');
      t.match(await repo.setResult(c.id, { transfer: { faultCode: 0 }, url: 'http://u:p@x/' }), { result: { transfer: { faultCode: 0 }, url: 'http://u:(secret)@x/' } });
      t.equal(await repo.setResult(999_999, {}), undefined);
      t.same(await repo.countsByStatus(), { fault: 2, cancelled: 1 });
    });

    t.test('retention: finished tasks purged in chunks, open ones kept', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      for (let i = 0; i < 5; i++) {
        const x = await created(repo, newTask('d1'));
        await repo.finish(x.id, 'queued', 'cancelled', 1000 + i, null, null);
      }
      const open = await created(repo, newTask('d1'));
      t.equal(await repo.purgeFinished(1003, 2), 2);
      t.equal(await repo.purgeFinished(1003, 2), 1);
      t.equal(await repo.purgeFinished(1003, 2), 0);
      t.same(await repo.countsByStatus(), { cancelled: 2, queued: 1 });
      t.ok(await repo.get(open.id));
    });

    t.test('50 concurrent queue and next calls per device: FIFO, never two in flight', async (t) => {
      const s = await engine.open(t);
      const devices = ['d1', 'd2', 'd3', 'd4'];
      await addDevices(s, ...devices);
      // A watch inside the store: whenever a task is marked sent, another of its device in flight, or an older one
      // still queued, is a violation (seen in the sending transaction, so transient ones count too).
      await s.query('CREATE TABLE violations (task BIGINT NOT NULL, why TEXT NOT NULL)');
      const other = "SELECT NEW.id, 'another in flight' WHERE EXISTS (SELECT 1 FROM tasks WHERE device_id = NEW.device_id AND status = 'sent' AND id <> NEW.id)";
      const older = "SELECT NEW.id, 'an older task queued' WHERE EXISTS (SELECT 1 FROM tasks WHERE device_id = NEW.device_id AND status = 'queued' AND id < NEW.id)";
      if (s.engine === 'sqlite') {
        s.db.exec(`CREATE TRIGGER watch AFTER UPDATE OF status ON tasks WHEN NEW.status = 'sent' BEGIN INSERT INTO violations ${other}; INSERT INTO violations ${older}; END`);
      } else {
        await s.query(`CREATE FUNCTION watch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
          IF NEW.status = 'sent' THEN INSERT INTO violations ${other}; INSERT INTO violations ${older}; END IF; RETURN NULL; END $$`);
        await s.query('CREATE TRIGGER watch AFTER UPDATE ON tasks FOR EACH ROW EXECUTE FUNCTION watch()');
        // Every other insert is slow to commit: without the device lock, a task queued later would commit (and be sent) first.
        await s.query(`CREATE FUNCTION slow_even() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id % 2 = 0 THEN PERFORM pg_sleep(0.02); END IF; RETURN NULL; END $$`);
        await s.query('CREATE TRIGGER slow_even AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION slow_even()');
      }
      const repo = repoOf(s);
      await Promise.all(devices.flatMap((d) => Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? repo.queue(newTask(d, read(`Device.${i}`))) : repo.next(d, 2000 + i, MAX)))));
      for (const d of devices) {
        const tasks = (await repo.ofDevice(d, Number.MAX_SAFE_INTEGER, 100)).reverse();
        t.equal(tasks.length, 25, `${d}: every task queued`);
        const open = tasks.filter((x) => x.status === 'queued' || x.status === 'sent');
        const head = open[0];
        const sent = tasks.filter((x) => x.status === 'sent');
        t.ok(sent.length <= 1, `${d}: at most one task in flight`);
        if (sent[0]) t.equal(sent[0].id, head?.id, `${d}: the one in flight is the head`);
        const everSent = tasks.filter((x) => x.attempts > 0);
        t.ok(everSent.every((x) => head === undefined || x.id <= head.id), `${d}: no task behind the head was ever sent`);
        t.ok(tasks.every((x) => head === undefined || x.id >= head.id || x.status === 'fault' || x.status === 'expired'), `${d}: every task before the head is finished`);
      }
      t.ok((await s.query("SELECT count(*) AS n FROM tasks WHERE attempts > 0"))[0]?.['n'] as number > 4, 'tasks were sent');
      t.same(await s.query('SELECT task, why FROM violations'), [], 'never, at any moment');
    });

    t.test('awaitTransfer: sent → transferring with its result and a new expiry deadline, out of the FIFO; then finished from transferring', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      const up = await created(repo, newTask('d1', { kind: 'upload', fileType: '2 Vendor Log File' }));
      const after = await created(repo, newTask('d1'));
      t.equal(await repo.awaitTransfer(up.id, { status: 1 }, 50_000), undefined, 'a queued task does not transfer');
      t.equal((await repo.next('d1', 2000, MAX)).sent?.id, up.id);
      const waiting = await repo.awaitTransfer(up.id, { status: 1 }, 50_000);
      t.match(waiting, { id: up.id, status: 'transferring', result: { status: 1 }, expiresAt: 50_000 });
      t.same(await deadlines(s), [`${up.id}@50000`, `${after.id}@10000`].sort());
      t.equal(await repo.awaitTransfer(up.id, { status: 1 }, 60_000), undefined, 'only once');
      t.equal((await repo.next('d1', 3000, MAX)).sent?.id, after.id, 'the next task goes out meanwhile');
      t.equal(await repo.requeue(up.id, 3000, MAX), undefined, 'a lost session does not requeue it');
      t.equal(await repo.finish(up.id, 'sent', 'done', 4000, {}, null), undefined);
      t.match(await repo.finish(up.id, 'transferring', 'done', 4000, { status: 1, upload: { id: 7 } }, null), { status: 'done', finishedAt: 4000, result: { upload: { id: 7 } } });
      t.same(await deadlines(s), [`${after.id}@10000`]);
    });

    t.test('concurrent queues under one idempotency key: one task', async (t) => {
      const s = await engine.open(t);
      await addDevices(s, 'd1');
      const repo = repoOf(s);
      const same = await Promise.all(Array.from({ length: 30 }, () => repo.queue(newTask('d1', read('A'), { idempotencyKey: 'k1' }))));
      t.same(same.map((o) => o.kind).sort(), ['created', ...Array(29).fill('existing')]);
      t.equal(new Set(same.map((o) => (o.kind === 'created' || o.kind === 'existing' ? o.task.id : 0))).size, 1, 'all the same task');
      const mixed = await Promise.all(Array.from({ length: 30 }, (_, i) => repo.queue(newTask('d1', read(i % 2 ? 'A' : 'B'), { idempotencyKey: 'k2' }))));
      const winner = mixed.find((o) => o.kind === 'created');
      const kinds = mixed.map((o) => o.kind);
      t.equal(kinds.filter((k) => k === 'created').length, 1);
      t.equal(kinds.filter((k) => k === 'existing').length, 14, 'the same request as the winner: its task');
      t.equal(kinds.filter((k) => k === 'conflict').length, 15, 'the other request: a conflict');
      t.ok(winner);
      t.equal((await s.query("SELECT count(*) AS n FROM tasks WHERE idempotency_key IN ('k1', 'k2')"))[0]?.['n'], 2);
    });
  });
}
