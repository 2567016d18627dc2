import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { MAX_ID_LENGTH } from '../../devices/device-input.js';
import { OperatorError } from '../../errors.js';
import { FileError, type FileErrorCode } from '../../files/file-catalog.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';
import { fileView } from '../views.js';

const fileParams = { type: 'object', required: ['file'], properties: { file: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[a-z0-9._-]+$' } } } as const;
const text = { type: 'string', minLength: 1, maxLength: 64 } as const;
const STATUS: Record<FileErrorCode, number> = { 'bad-input': 400, exists: 409, 'too-large': 413, 'not-found': 404, 'in-use': 409 };

/** The API's answer to a refusal of the catalog (a description it cannot take is the API's bad-request). */
const answerTo = (err: FileError) => new ApiError(STATUS[err.code], err.code === 'bad-input' ? 'bad-request' : err.code, err.message);

function refused(err: unknown): never {
  throw err instanceof FileError ? answerTo(err) : err;
}

/**
 * Answers before the body is read. The connection stays open and Node reads and discards what still comes
 * (the client stops sending once it has the answer; the listener's body_timeout bounds one that does not):
 * closing on unread bytes would reset the connection, and the client, still writing, would lose the answer.
 */
function refuseUnread(reply: FastifyReply, err: ApiError): FastifyReply {
  return reply.code(err.status).send({ error: err.code, message: err.message });
}

/**
 * The files stbd serves to devices: add one (the bytes streamed as the request body, straight to disk),
 * list, show, remove (refused while in use), and a device's download URL.
 */
export function fileRoutes(app: FastifyInstance, { files, registry }: ApiDeps): void {
  // The body is handed over unread, as a stream: the catalog writes it to disk as it comes, counting.
  app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    scope.post<{ Querystring: { type: string; version: string; productClass?: string; oui?: string } }>(
      '/v1/files',
      {
        bodyLimit: files.options.maxBytes,
        schema: {
          querystring: { type: 'object', additionalProperties: false, required: ['type', 'version'], properties: { type: text, version: text, productClass: text, oui: text } },
        },
      },
      async (req, reply) => {
        const max = files.options.maxBytes;
        if (!req.headers['content-type']?.startsWith('application/octet-stream')) return refuseUnread(reply, new ApiError(415, 'unsupported-media-type', 'send the file with Content-Type: application/octet-stream'));
        if (Number(req.headers['content-length'] ?? 0) > max) return refuseUnread(reply, new ApiError(413, 'too-large', `the file is over the limit of ${max} bytes ([files] max_size)`));
        try {
          await files.precheck(req.query);
        } catch (err) {
          if (err instanceof FileError) return refuseUnread(reply, answerTo(err));
          throw err;
        }
        try {
          const f = await files.add(req.query, req.body as Readable);
          return reply.code(201).send(fileView(f));
        } catch (err) {
          if (err instanceof FileError && err.code === 'too-large') return refuseUnread(reply, answerTo(err));
          if (req.raw.destroyed || req.raw.readableAborted) throw new ApiError(400, 'aborted', 'the upload was cut off; nothing was kept');
          refused(err);
        }
      },
    );
  });

  app.get('/v1/files', async () => ({ files: (await files.list()).map(fileView) }));

  app.get<{ Params: { file: string } }>('/v1/files/:file', { schema: { params: fileParams } }, async (req) => {
    const f = await files.get(req.params.file);
    if (!f) throw new ApiError(404, 'not-found', `no file ${req.params.file}`);
    return fileView(f);
  });

  app.delete<{ Params: { file: string } }>('/v1/files/:file', { schema: { params: fileParams } }, async (req) => {
    try {
      return fileView(await files.remove(req.params.file));
    } catch (err) {
      refused(err);
    }
  });

  app.get<{ Params: { file: string }; Querystring: { device: string } }>(
    '/v1/files/:file/url',
    { schema: { params: fileParams, querystring: { type: 'object', additionalProperties: false, required: ['device'], properties: { device: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } } } } },
    async (req) => {
      const f = await files.get(req.params.file);
      if (!f) throw new ApiError(404, 'not-found', `no file ${req.params.file}`);
      if (!(await registry.exists(req.query.device))) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.query.device)} not found`);
      let url: string;
      try {
        url = files.downloadUrl(f.id, req.query.device);
      } catch (err) {
        if (err instanceof OperatorError) throw new ApiError(409, 'no-file-server', err.message);
        throw err;
      }
      return { file: f.id, device: req.query.device, url, size: f.size, validForSeconds: Math.round(files.options.urlValidityMs / 1000) };
    },
  );
}
