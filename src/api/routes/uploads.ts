import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../devices/device-input.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';
import { uploadView } from '../views.js';

const deviceParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } } } as const;
const uploadParams = { type: 'object', required: ['upload'], properties: { upload: { type: 'integer', minimum: 1 } } } as const;

/** Files CPEs uploaded (upload tasks): a device's list, one's description, its bytes. */
export function uploadRoutes(app: FastifyInstance, { management, registry }: ApiDeps): void {
  const uploads = management.uploads;
  const notFound = (id: number) => new ApiError(404, 'not-found', `no upload ${id}`);

  app.get<{ Params: { id: string }; Querystring: { limit: number } }>(
    '/v1/devices/:id/uploads',
    {
      schema: {
        params: deviceParams,
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 100 } } },
      },
    },
    async (req) => {
      if (!(await registry.exists(req.params.id))) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.params.id)} not found`);
      return { uploads: (await uploads.list(req.params.id, req.query.limit)).map(uploadView) };
    },
  );

  app.get<{ Params: { upload: number } }>('/v1/uploads/:upload', { schema: { params: uploadParams } }, async (req) => {
    const u = await uploads.get(req.params.upload);
    if (!u) throw notFound(req.params.upload);
    return uploadView(u);
  });

  app.get<{ Params: { upload: number } }>('/v1/uploads/:upload/content', { schema: { params: uploadParams } }, async (req, reply) => {
    const u = await uploads.get(req.params.upload);
    const content = u && (await uploads.content(u.id));
    if (!u || !content) throw notFound(req.params.upload);
    // The bytes as the CPE sent them, never interpreted: the type it declared is in the description (and a header).
    return reply
      .header('content-type', 'application/octet-stream')
      .header('x-content-type-options', 'nosniff')
      .header('content-disposition', `attachment; filename="upload-${u.id}"`)
      .header('x-stbd-sha256', u.sha256)
      .header('x-stbd-content-type', u.contentType)
      .send(content);
  });
}
