import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH } from '../../devices/device-input.js';
import { MAX_TAGS_PER_REQUEST, type TagPlan } from '../../devices/tag-rules.js';
import { MAX_DEVICES_PER_CHANGE, TagInputError } from '../../devices/tags.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';
import { conditionOf, whereSchema } from '../where.js';

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH } },
} as const;

/** Tag syntax is the rules' to explain (tag-rules.ts); the schema only bounds the sizes. */
const tagList = { type: 'array', maxItems: MAX_TAGS_PER_REQUEST, items: { type: 'string', maxLength: 256 } } as const;

interface Change {
  readonly add?: string[];
  readonly remove?: string[];
}

const refusal = (p: Extract<TagPlan, { kind: 'refused' }>) => ({ device: p.device, error: p.code, message: p.message });

export function tagRoutes(app: FastifyInstance, { registry, selection, tags, log }: ApiDeps): void {
  const change = async (devices: readonly string[], body: Change) => {
    try {
      return await tags.change(devices, body.add ?? [], body.remove ?? []);
    } catch (err) {
      if (err instanceof TagInputError) throw new ApiError(400, 'bad-request', err.message);
      throw err;
    }
  };

  app.get<{ Params: { id: string } }>('/v1/devices/:id/tags', { schema: { params: idParams } }, async (req) => {
    if (!(await registry.exists(req.params.id))) throw new ApiError(404, 'not-found', `device ${JSON.stringify(req.params.id)} not found`);
    return { device: req.params.id, tags: await tags.of(req.params.id) };
  });

  app.post<{ Params: { id: string }; Body: Change }>(
    '/v1/devices/:id/tags',
    { schema: { params: idParams, body: { type: 'object', additionalProperties: false, properties: { add: tagList, remove: tagList } } } },
    async (req) => {
      const [plan] = await change([req.params.id], req.body);
      if (!plan) throw new Error('a tag change of one device planned nothing');
      if (plan.kind === 'refused') throw new ApiError(plan.code === 'not-found' ? 404 : 409, plan.code, plan.message);
      if (plan.added.length + plan.removed.length > 0) log.info({ device: plan.device, added: plan.added, removed: plan.removed }, 'device tags changed');
      return { device: plan.device, tags: plan.tags, added: plan.added, removed: plan.removed };
    },
  );

  // Bulk: one page of a selection a call (stbctl tag --where pages through it with `next`).
  app.post<{ Body: Change & { where: string; after?: string; limit: number } }>(
    '/v1/tags',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['where'],
          properties: {
            where: whereSchema,
            add: tagList,
            remove: tagList,
            after: { type: 'string', maxLength: MAX_ID_LENGTH },
            limit: { type: 'integer', minimum: 1, maximum: MAX_DEVICES_PER_CHANGE, default: MAX_DEVICES_PER_CHANGE },
          },
        },
      },
    },
    async (req) => {
      const condition = conditionOf(req.body.where);
      if (!condition) throw new ApiError(400, 'bad-request', 'where is required');
      const page = await selection.ids(condition, req.body.after, req.body.limit);
      const plans = await change(page.items, req.body);
      const changed = plans.filter((p) => p.kind === 'change' && p.added.length + p.removed.length > 0).length;
      if (changed > 0) log.info({ where: req.body.where, changed, add: req.body.add ?? [], remove: req.body.remove ?? [] }, 'device tags changed');
      return {
        matched: page.items.length,
        changed,
        refused: plans.flatMap((p) => (p.kind === 'refused' ? [refusal(p)] : [])),
        next: page.next,
      };
    },
  );
}
