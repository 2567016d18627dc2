import type { FastifyInstance } from 'fastify';
import type { DeviceInput, DeviceRecord } from '../../devices/device.js';
import { MAX_ID_LENGTH } from '../../devices/device-input.js';
import { DuplicateDeviceError, ImportError } from '../../devices/registry.js';
import { ApiError } from '../errors.js';
import { conditionOf, whereSchema } from '../where.js';
import type { ApiDeps } from '../server.js';
import { credentialsView, deviceView, managementView } from '../views.js';

/** A CSV of a million devices is about 100 MiB. */
const IMPORT_BODY_LIMIT = 256 * 1024 * 1024;
const MAX_PAGE = 10_000;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } },
} as const;

/** A listing's query: a keyset page, of every device or of a selection (`where`, `online`). */
const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: MAX_PAGE, default: 1000 },
    after: { type: 'string', maxLength: MAX_ID_LENGTH },
    online: { type: 'boolean' },
    where: whereSchema,
  },
} as const;
type ListQuery = { limit: number; after?: string; online?: boolean; where?: string };

function conflict(err: DuplicateDeviceError, input: DeviceInput): ApiError {
  const value = err.field === 'id' ? input.id : (input[err.field] ?? input.id);
  return new ApiError(409, 'conflict', `${err.field} ${JSON.stringify(value)} is already used by another device`, { field: err.field });
}

export function deviceRoutes(app: FastifyInstance, { registry, selection, tags, keepalive, management, log }: ApiDeps): void {
  const view = (d: DeviceRecord, t: readonly string[]) => deviceView(d, keepalive.presenceOf(d.id), t);
  /**
   * A page of devices as the API shows them: their tags read in one statement, their presence wherever their
   * bindings are held (in a cluster, what another node wrote: one more statement).
   */
  const views = async (devices: readonly DeviceRecord[]) => {
    const ids = devices.map((d) => d.id);
    const [tagsOf, presence] = await Promise.all([tags.ofMany(ids), keepalive.presenceAnywhere(ids)]);
    return devices.map((d) => deviceView(d, presence.get(d.id), tagsOf.get(d.id) ?? []));
  };

  // No limit of its own: the import route raises it, every other route keeps the 1 MiB of JSON bodies.
  app.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.post('/v1/devices', async (req, reply) => {
    const problem = registry.validator.problem(req.body);
    if (problem) throw new ApiError(400, 'bad-request', problem);
    const input = req.body as DeviceInput;
    try {
      const device = await registry.create(input);
      log.info({ device: device.id }, 'device registered');
      return reply.code(201).send({ ...view(device, []), credentials: device.credentials });
    } catch (err) {
      if (err instanceof DuplicateDeviceError) throw conflict(err, input);
      throw err;
    }
  });

  app.get<{ Querystring: ListQuery }>(
    '/v1/devices',
    { schema: { querystring: listQuery } },
    async (req) => {
      const { after, limit, online, where } = req.query;
      const condition = conditionOf(where, online === true);
      if (!condition) {
        const devices = await registry.page(after, limit);
        return { devices: await views(devices), next: devices.length === limit ? (devices.at(-1)?.id ?? null) : null };
      }
      // A page examines `limit` devices and shows those that match: it may show fewer, or none, and go on.
      const page = await selection.devices(condition, after, limit);
      return { devices: await views(page.items), next: page.next };
    },
  );

  // The ids of a selection, in keyset pages (stbctl's bulk commands page through it): not under /v1/devices/,
  // where it would hide a device named "ids".
  app.get<{ Querystring: ListQuery }>(
    '/v1/device-ids',
    { schema: { querystring: listQuery } },
    async (req) => {
      const { after, limit, online, where } = req.query;
      const condition = conditionOf(where, online === true);
      if (!condition) {
        const devices = await registry.page(after, limit);
        return { ids: devices.map((d) => d.id), next: devices.length === limit ? (devices.at(-1)?.id ?? null) : null };
      }
      const page = await selection.ids(condition, after, limit);
      return { ids: page.items, next: page.next };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/devices/:id', { schema: { params: idParams } }, async (req) => {
    const device = await registry.get(req.params.id);
    if (!device) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.params.id)} not found`);
    const state = management.state;
    const [cwmp, parameters, events, rotation, [shown]] = await Promise.all([state.get(device.id), state.parameters(device.id), state.cpeEvents(device.id), registry.rotationOf(device.id), views([device])]);
    return { ...shown!, management: managementView(cwmp, parameters, events, rotation !== undefined) };
  });

  app.post<{ Params: { id: string } }>('/v1/devices/:id/provision', { schema: { params: idParams } }, async (req, reply) => {
    const device = await registry.get(req.params.id);
    if (!device) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.params.id)} not found`);
    const outcome = await management.provisionAgain(device.id);
    log.info({ device: device.id, outcome }, 'provisioning asked again');
    return reply.code(202).send({ device: device.id, ...outcome });
  });

  app.delete<{ Params: { id: string } }>('/v1/devices/:id', { schema: { params: idParams } }, async (req, reply) => {
    if (!(await registry.remove(req.params.id))) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.params.id)} not found`);
    log.info({ device: req.params.id }, 'device removed');
    return reply.code(204).send();
  });

  app.post<{ Querystring: { credentials: boolean } }>(
    '/v1/devices/import',
    {
      bodyLimit: IMPORT_BODY_LIMIT,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { credentials: { type: 'boolean', default: false } },
        },
      },
    },
    async (req, reply) => {
      if (typeof req.body !== 'string') throw new ApiError(415, 'unsupported-media-type', 'send the CSV with Content-Type: text/csv');
      try {
        const devices = await registry.importCsv(req.body);
        log.info({ count: devices.length }, 'devices imported');
        return reply.code(201).send({ imported: devices.length, ...(req.query.credentials ? { credentials: devices.map(credentialsView) } : {}) });
      } catch (err) {
        if (err instanceof ImportError) throw new ApiError(400, 'bad-request', err.message, { row: err.row ?? null, line: err.line ?? null });
        throw err;
      }
    },
  );
}
