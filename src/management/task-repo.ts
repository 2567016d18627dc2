import { redact } from '../secret-names.js';
import { columnContext, openText, type Sealer, sealText } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import type { ParameterFault } from './cwmp-soap.js';
import type { Task, TaskFault, TaskOrigin, TaskRequest, TaskStatus } from './task.js';

type Row = Record<string, unknown>;

const task = (r: Row): Task => ({
  id: r['id'] as number,
  deviceId: r['device_id'] as string,
  request: JSON.parse(r['request'] as string) as TaskRequest,
  origin: r['origin'] as TaskOrigin,
  status: r['status'] as TaskStatus,
  idempotencyKey: r['idempotency_key'] as string | null,
  createdAt: r['created_at'] as number,
  expiresAt: r['expires_at'] as number,
  sentAt: r['sent_at'] as number | null,
  finishedAt: r['finished_at'] as number | null,
  attempts: r['attempts'] as number,
  result: r['result'] === null ? null : JSON.parse(r['result'] as string),
  fault:
    r['fault_code'] === null
      ? null
      : { code: r['fault_code'] as number, message: r['fault_message'] as string, ...(r['fault_details'] ? { details: JSON.parse(r['fault_details'] as string) as ParameterFault[] } : {}) },
});

export interface NewTask {
  readonly deviceId: string;
  readonly request: TaskRequest;
  readonly origin: TaskOrigin;
  readonly idempotencyKey: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
}

const sealedContext = (id: number) => columnContext('tasks', 'request_sealed', id);

/**
 * All SQL of the task queue. State changes are guarded by the expected current status. A task's request is
 * stored as it may be shown (secrets replaced by the mask); when that differs from the request, the request
 * itself is stored sealed beside it, for the RPC. Results are stored as they may be shown.
 */
export class TaskRepo {
  readonly #s;
  readonly #sealer: Sealer;

  constructor(
    readonly db: Database,
    sealer: Sealer,
  ) {
    this.#sealer = sealer;
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(sql);
    this.#s = {
      insert: p<[string, string, string, string, string | null, number, number]>(
        `INSERT INTO tasks (device_id, kind, request, origin, status, idempotency_key, created_at, expires_at)
         VALUES (?, ?, ?, ?, 'queued', ?, ?, ?) RETURNING *`,
      ),
      seal: p<[string, number]>('UPDATE tasks SET request_sealed = ? WHERE id = ?'),
      sealed: p<[number]>('SELECT request_sealed FROM tasks WHERE id = ?'),
      get: p<[number]>('SELECT * FROM tasks WHERE id = ?'),
      byKey: p<[string, string]>('SELECT * FROM tasks WHERE device_id = ? AND idempotency_key = ?'),
      ofDevice: p<[string, number, number]>('SELECT * FROM tasks WHERE device_id = ? AND id < ? ORDER BY id DESC LIMIT ?'),
      nextOpen: p<[string]>(`SELECT * FROM tasks WHERE device_id = ? AND status IN ('queued', 'sent') ORDER BY id LIMIT 1`),
      openDevices: p<[]>(`SELECT DISTINCT device_id FROM tasks WHERE status IN ('queued', 'sent')`),
      hasOpen: p<[string]>(`SELECT 1 FROM tasks WHERE device_id = ? AND status IN ('queued', 'sent') LIMIT 1`),
      send: p<[number, number]>(`UPDATE tasks SET status = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ? AND status = 'queued' RETURNING *`),
      requeue: p<[number]>(`UPDATE tasks SET status = 'queued' WHERE id = ? AND status = 'sent' RETURNING *`),
      finish: p<[string, number, string | null, number | null, string | null, string | null, number, string]>(
        `UPDATE tasks SET status = ?, finished_at = ?, result = ?, fault_code = ?, fault_message = ?, fault_details = ?
         WHERE id = ? AND status = ? RETURNING *`,
      ),
      setResult: p<[string | null, number]>('UPDATE tasks SET result = ? WHERE id = ? RETURNING *'),
      counts: p<[]>('SELECT status, count(*) AS n FROM tasks GROUP BY status'),
      purge: p<[number, number]>(
        `DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE status IN ('done', 'fault', 'expired', 'cancelled') AND finished_at < ? LIMIT ?)`,
      ),
    };
  }

  insert(t: NewTask): Task {
    const shown = redact(t.request);
    return this.db.transaction(() => {
      const row = task(this.#s.insert.get(t.deviceId, t.request.kind, JSON.stringify(shown), t.origin, t.idempotencyKey, t.createdAt, t.expiresAt)!);
      if (shown !== t.request) this.#s.seal.run(sealText(this.#sealer, JSON.stringify(t.request), sealedContext(row.id)), row.id);
      return row;
    })();
  }

  /** The request with its secrets: to send it to the CPE, or for stbd's own bookkeeping. Never to be shown. */
  sendable(t: Task): TaskRequest {
    const sealed = this.#s.sealed.get(t.id)?.['request_sealed'] as string | null | undefined;
    return sealed ? (JSON.parse(openText(this.#sealer, sealed, sealedContext(t.id))) as TaskRequest) : t.request;
  }

  get(id: number): Task | undefined {
    const r = this.#s.get.get(id);
    return r && task(r);
  }

  byIdempotencyKey(deviceId: string, key: string): Task | undefined {
    const r = this.#s.byKey.get(deviceId, key);
    return r && task(r);
  }

  /** A device's tasks, newest first, with ids below `before`. */
  ofDevice(deviceId: string, before: number, limit: number): Task[] {
    return this.#s.ofDevice.all(deviceId, before, limit).map(task);
  }

  /** The head of the device's FIFO: its oldest queued or sent task. */
  nextOpen(deviceId: string): Task | undefined {
    const r = this.#s.nextOpen.get(deviceId);
    return r && task(r);
  }

  hasOpen(deviceId: string): boolean {
    return this.#s.hasOpen.get(deviceId) !== undefined;
  }

  devicesWithOpenTasks(): string[] {
    return this.#s.openDevices.all().map((r) => r['device_id'] as string);
  }

  /** queued → sent; undefined when it was not queued any more. */
  markSent(id: number, at: number): Task | undefined {
    const r = this.#s.send.get(at, id);
    return r && task(r);
  }

  /** sent → queued (its session was lost before the answer). */
  requeue(id: number): Task | undefined {
    const r = this.#s.requeue.get(id);
    return r && task(r);
  }

  /** `from` → a finished status; undefined when the task was not in `from` any more. */
  finish(id: number, from: TaskStatus, to: TaskStatus, at: number, result: unknown, fault: TaskFault | null): Task | undefined {
    const details = fault?.details?.length ? JSON.stringify(fault.details) : null;
    const r = this.#s.finish.get(to, at, result === undefined || result === null ? null : JSON.stringify(redact(result)), fault?.code ?? null, fault?.message ?? null, details, id, from);
    return r && task(r);
  }

  setResult(id: number, result: unknown): Task | undefined {
    const r = this.#s.setResult.get(JSON.stringify(redact(result)), id);
    return r && task(r);
  }

  /** Deletes up to `limit` tasks finished before `before`; returns how many. */
  purgeFinished(before: number, limit: number): number {
    return this.#s.purge.run(before, limit).changes;
  }

  countsByStatus(): Record<string, number> {
    return Object.fromEntries(this.#s.counts.all().map((r) => [r['status'] as string, r['n'] as number]));
  }
}
