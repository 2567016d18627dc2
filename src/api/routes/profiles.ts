import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../devices/device-input.js';
import type { Condition } from '../../devices/selector/ast.js';
import { parseSelector } from '../../devices/selector/parser.js';
import { MAX_PROFILE_BYTES } from '../../profiles/profile-file.js';
import { ProfileError } from '../../profiles/profile-catalog.js';
import { MAX_APPLY_BATCH } from '../../profiles/profile-service.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 64 } } } as const;

/** Every device: the built-in profile's selector. */
const EVERY_DEVICE: Condition = { kind: 'like', field: { kind: 'text', name: 'id' }, pattern: '*' };

const apiErrorOf = (err: unknown): never => {
  if (err instanceof ProfileError) throw new ApiError(err.code === 'not-found' ? 404 : 400, err.code === 'not-found' ? 'not-found' : 'bad-profile', err.message);
  throw err;
};

export function profileRoutes(app: FastifyInstance, { profiles, selection }: ApiDeps): void {
  app.get('/v1/profiles', async () => ({ profiles: await profiles.list() }));

  app.post<{ Body: { source: string } }>(
    '/v1/profiles',
    { bodyLimit: MAX_PROFILE_BYTES * 2, schema: { body: { type: 'object', additionalProperties: false, required: ['source'], properties: { source: { type: 'string', maxLength: MAX_PROFILE_BYTES } } } } },
    async (req, reply) => {
      const { profile, replaced } = await profiles.add(req.body.source).catch(apiErrorOf);
      reply.code(replaced ? 200 : 201);
      return { name: profile.name, revision: profile.revision, replaced };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { after?: string; limit: number } }>(
    '/v1/profiles/:name',
    { schema: { params: nameParams, querystring: { type: 'object', additionalProperties: false, properties: { after: { type: 'string', maxLength: MAX_ID_LENGTH }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } } } },
    async (req) => {
      const { profile, source, faults } = await profiles.show(req.params.name, req.query.after ?? '', req.query.limit).catch(apiErrorOf);
      return {
        ...profile,
        source,
        faults: faults.map((f) => ({ device: f.deviceId, fault: f.fault, at: new Date(f.updatedAt).toISOString() })),
        nextFault: faults.length === req.query.limit ? faults.at(-1)!.deviceId : null,
      };
    },
  );

  app.delete<{ Params: { name: string } }>('/v1/profiles/:name', { schema: { params: nameParams } }, async (req) => {
    await profiles.remove(req.params.name).catch(apiErrorOf);
    return { removed: req.params.name };
  });

  // One page of the profile's devices a call: stbctl profile apply pages through them with `next`, paced.
  app.post<{ Params: { name: string }; Body: { after?: string; limit: number } }>(
    '/v1/profiles/:name/apply',
    {
      schema: {
        params: nameParams,
        body: { type: 'object', additionalProperties: false, properties: { after: { type: 'string', maxLength: MAX_ID_LENGTH }, limit: { type: 'integer', minimum: 1, maximum: MAX_APPLY_BATCH, default: 100 } } },
      },
    },
    async (req) => {
      const selector = (() => {
        try {
          return profiles.selectorOf(req.params.name);
        } catch (err) {
          return apiErrorOf(err);
        }
      })();
      const condition = selector.trim() === '' ? EVERY_DEVICE : parseSelector(selector);
      const page = await selection.ids(condition, req.body.after, req.body.limit);
      const counts = await profiles.apply(req.params.name, page.items).catch(apiErrorOf);
      return { matched: page.items.length, ...counts, next: page.next };
    },
  );
}
