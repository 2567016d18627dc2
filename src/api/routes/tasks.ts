import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../devices/device-input.js';
import type { Task } from '../../management/task.js';
import { TaskInputValidator } from '../../management/task-input.js';
import { TaskError } from '../../management/task-queue.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';
import { taskView } from '../views.js';

/** Long polls are capped so that proxies and clients with default timeouts keep up. */
const MAX_WAIT_S = 300;
const waitQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { wait: { type: 'number', minimum: 0, maximum: MAX_WAIT_S, default: 0 } },
} as const;
const deviceParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } } } as const;
const taskParams = { type: 'object', required: ['task'], properties: { task: { type: 'integer', minimum: 1 } } } as const;

const STATUS = { 'unknown-device': 404, 'not-found': 404, 'idempotency-conflict': 409, 'not-cancellable': 409 } as const;
function refused(err: unknown, deviceId?: string): never {
  // The queue's own wording for an unknown device differs; operators see one phrase everywhere.
  if (err instanceof TaskError && err.code === 'unknown-device' && deviceId !== undefined) throw new ApiError(404, err.code, `device ${JSON.stringify(deviceId)} not found`);
  if (err instanceof TaskError) throw new ApiError(STATUS[err.code], err.code, err.message);
  throw err;
}

/** Tasks: queue a CWMP command for a device, read it (long-poll with ?wait=SECONDS), list, cancel. */
export function taskRoutes(app: FastifyInstance, { management, registry }: ApiDeps): void {
  const validator = new TaskInputValidator();
  const view = (t: Task) => taskView(t, management.pending(t));
  const waited = async (t: Task, seconds: number) => view((await management.tasks.wait(t.id, seconds * 1000)) ?? t);

  app.post<{ Params: { id: string }; Querystring: { wait: number } }>(
    '/v1/devices/:id/tasks',
    { schema: { params: deviceParams, querystring: waitQuery } },
    async (req, reply) => {
      const input = validator.parse(req.body);
      if (typeof input === 'string') throw new ApiError(400, 'bad-request', input);
      let outcome;
      try {
        outcome = await management.tasks.queue(req.params.id, input.request, {
          ...(input.expiresInMs === undefined ? {} : { expiresInMs: input.expiresInMs }),
          ...(input.idempotencyKey === undefined ? {} : { idempotencyKey: input.idempotencyKey }),
        });
      } catch (err) {
        refused(err, req.params.id);
      }
      return reply.code(outcome.created ? 201 : 200).send(await waited(outcome.task, req.query.wait));
    },
  );

  app.get<{ Params: { id: string }; Querystring: { before?: number; limit: number } }>(
    '/v1/devices/:id/tasks',
    {
      schema: {
        params: deviceParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { before: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
      },
    },
    async (req) => {
      if (!(await registry.exists(req.params.id))) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.params.id)} not found`);
      const tasks = await management.tasks.ofDevice(req.params.id, req.query.before, req.query.limit);
      return { tasks: tasks.map(view), next: tasks.length === req.query.limit ? (tasks.at(-1)?.id ?? null) : null };
    },
  );

  app.get<{ Params: { task: number }; Querystring: { wait: number } }>('/v1/tasks/:task', { schema: { params: taskParams, querystring: waitQuery } }, async (req) => {
    const t = await management.tasks.get(req.params.task);
    if (!t) throw new ApiError(404, 'not-found', `no task ${req.params.task}`);
    return waited(t, req.query.wait);
  });

  app.post<{ Params: { task: number } }>('/v1/tasks/:task/cancel', { schema: { params: taskParams } }, async (req) => {
    try {
      return view(await management.tasks.cancel(req.params.task));
    } catch (err) {
      refused(err);
    }
  });
}
