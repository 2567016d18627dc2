import type { FastifyInstance } from 'fastify';
import { MAX_ID_LENGTH, PRINTABLE_PATTERN } from '../../devices/device-input.js';
import type { PoolEntry } from '../../pool/pool-records.js';
import { PoolError, type PoolErrorCode } from '../../pool/pool-service.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';

const MAX_ACCOUNT_LENGTH = 128;
const STATUS: Record<PoolErrorCode, number> = {
  'account-limit': 409,
  'bound-elsewhere': 409,
  'pool-limit': 409,
  'not-bound': 409,
  'cas-unavailable': 503,
  'unknown-device': 400,
};

const pairParams = {
  type: 'object',
  required: ['account', 'device'],
  properties: {
    account: { type: 'string', minLength: 1, maxLength: MAX_ACCOUNT_LENGTH, pattern: PRINTABLE_PATTERN },
    device: { type: 'string', minLength: 1, maxLength: MAX_ID_LENGTH, pattern: PRINTABLE_PATTERN },
  },
} as const;

const iso = (ms: number) => new Date(ms).toISOString();
const entryView = (e: PoolEntry) => ({
  device: e.deviceId,
  account: e.account,
  pooledAt: iso(e.pooledAt),
  recycleAt: iso(e.recycleAt),
  state: e.state,
  attempts: e.attempts,
  lastError: e.lastError,
});

function refused(err: unknown): never {
  if (err instanceof PoolError) throw new ApiError(STATUS[err.code], err.code, err.message);
  throw err;
}

/** Binding and the recycling pool, for the BSS (and the admin). Seed 000. */
export function poolRoutes(app: FastifyInstance, { pool }: ApiDeps): void {
  const bss = { config: { access: 'bss' as const } };

  app.put<{ Params: { account: string; device: string } }>('/v1/accounts/:account/devices/:device', { ...bss, schema: { params: pairParams } }, async (req) => {
    const result = await pool.bind(req.params.account, req.params.device).catch(refused);
    return { result };
  });

  app.delete<{ Params: { account: string; device: string } }>('/v1/accounts/:account/devices/:device', { ...bss, schema: { params: pairParams } }, async (req) => {
    try {
      const { recycleAt } = await pool.unbind(req.params.account, req.params.device);
      return { result: 'unbound', recycleAt: iso(recycleAt) };
    } catch (err) {
      return refused(err);
    }
  });

  app.get<{ Params: { account: string } }>(
    '/v1/accounts/:account',
    { ...bss, schema: { params: { type: 'object', required: ['account'], properties: { account: pairParams.properties.account } } } },
    async (req) => ({
      account: req.params.account,
      bound: (await pool.bindingsOf(req.params.account)).map((b) => ({ device: b.deviceId, state: b.state, via: b.via, boundAt: iso(b.boundAt) })),
      pooled: (await pool.list(req.params.account, '', 100_000)).map(entryView),
    }),
  );

  app.get<{ Querystring: { account?: string; after: string; limit: number } }>(
    '/v1/pool',
    {
      ...bss,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            account: pairParams.properties.account,
            after: { type: 'string', maxLength: MAX_ID_LENGTH, default: '' },
            limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 1000 },
          },
        },
      },
    },
    async (req) => {
      const entries = await pool.list(req.query.account, req.query.after, req.query.limit);
      return { entries: entries.map(entryView), next: entries.length === req.query.limit ? (entries.at(-1)?.deviceId ?? null) : null };
    },
  );

  app.get<{ Querystring: { device?: string; limit: number } }>(
    '/v1/pool/history',
    {
      ...bss,
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { device: pairParams.properties.device, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 100 } },
        },
      },
    },
    async (req) => ({
      events: (await pool.history(req.query.device, req.query.limit)).map((e) => ({ at: iso(e.at), event: e.event, device: e.deviceId, account: e.account, detail: e.detail })),
    }),
  );
}
