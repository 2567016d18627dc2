import { redact } from '../secret-names.js';
import { columnContext, openText, type Sealer, sealText } from '../sealed-text.js';
import type { ParameterFault } from './cwmp-soap.js';
import type { Task, TaskFault, TaskOrigin, TaskRequest, TaskStatus } from './task.js';
import type { NewTask } from './task-repo.js';

export type Row = Record<string, unknown>;

export const taskOf = (r: Row): Task => ({
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
  ...(typeof r['profiles'] === 'string' ? { profiles: (r['profiles'] as string).split(',') } : {}),
});

const OPEN = "status IN ('queued', 'sent')";

/** Whether device $1 has a task queued or in flight (true or false, never no row). */
export const HAS_OPEN_TASK = `EXISTS (SELECT 1 FROM tasks WHERE device_id = $1 AND ${OPEN})`;

/** The task statements, in PostgreSQL's `$n` form (SQLite's repo converts them with forSqlite). */
export const TASK_SQL = {
  // ON CONFLICT on the per-device key index: a key the device used is no second task, whoever wrote the first.
  insert: `INSERT INTO tasks (device_id, kind, request, origin, status, idempotency_key, created_at, expires_at, profiles)
    VALUES ($1, $2, $3, $4, 'queued', $5, $6, $7, $8)
    ON CONFLICT (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING *`,
  seal: 'UPDATE tasks SET request_sealed = $1 WHERE id = $2',
  sealed: 'SELECT request_sealed FROM tasks WHERE id = $1',
  get: 'SELECT * FROM tasks WHERE id = $1',
  byKey: 'SELECT * FROM tasks WHERE device_id = $1 AND idempotency_key = $2',
  ofDevice: 'SELECT * FROM tasks WHERE device_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3',
  nextOpen: `SELECT * FROM tasks WHERE device_id = $1 AND ${OPEN} ORDER BY id LIMIT 1`,
  openDevices: `SELECT DISTINCT device_id FROM tasks WHERE ${OPEN}`,
  hasOpen: `SELECT 1 AS x FROM tasks WHERE device_id = $1 AND ${OPEN} LIMIT 1`,
  send: "UPDATE tasks SET status = 'sent', sent_at = $1, attempts = attempts + 1 WHERE id = $2 AND status = 'queued' RETURNING *",
  requeue: "UPDATE tasks SET status = 'queued' WHERE id = $1 AND status = 'sent' RETURNING *",
  finish: `UPDATE tasks SET status = $1, finished_at = $2, result = $3, fault_code = $4, fault_message = $5, fault_details = $6
    WHERE id = $7 AND status = $8 RETURNING *`,
  setResult: 'UPDATE tasks SET result = $1 WHERE id = $2 RETURNING *',
  transfer: "UPDATE tasks SET status = 'transferring', result = $1, expires_at = $2 WHERE id = $3 AND status = 'sent' RETURNING *",
  counts: 'SELECT status, count(*) AS n FROM tasks GROUP BY status',
  purge: "DELETE FROM tasks WHERE id IN (SELECT id FROM tasks WHERE status IN ('done', 'fault', 'expired', 'cancelled') AND finished_at < $1 LIMIT $2)",
};

/** The values of TASK_SQL.insert: the request as it may be shown. */
export const insertColumns = (t: NewTask) => [t.deviceId, t.request.kind, JSON.stringify(redact(t.request)), t.origin, t.idempotencyKey, t.createdAt, t.expiresAt, t.profiles?.length ? t.profiles.join(',') : null] as const;

/** The values of TASK_SQL.finish (after `to` and `at`), a result as it may be shown. */
export const finishColumns = (to: TaskStatus, at: number, result: unknown, fault: TaskFault | null, id: number, from: TaskStatus) =>
  [to, at, result === undefined || result === null ? null : JSON.stringify(redact(result)), fault?.code ?? null, fault?.message ?? null, fault?.details?.length ? JSON.stringify(fault.details) : null, id, from] as const;

export const resultColumn = (result: unknown): string => JSON.stringify(redact(result));

const sealedContext = (id: number) => columnContext('tasks', 'request_sealed', id);

/** A request's secrets sealed beside its masked copy, bound to the task's row. */
export class TaskSealing {
  constructor(private readonly sealer: Sealer) {}

  /** The sealed request for `task`, or null when the stored one has nothing masked. */
  sealed(task: Task, request: TaskRequest): string | null {
    return redact(request) === request ? null : sealText(this.sealer, JSON.stringify(request), sealedContext(task.id));
  }

  /** The request with its secrets, from the stored sealed column (null: the stored request is the whole one). */
  open(task: Task, sealed: string | null | undefined): TaskRequest {
    return sealed ? (JSON.parse(openText(this.sealer, sealed, sealedContext(task.id))) as TaskRequest) : task.request;
  }
}
