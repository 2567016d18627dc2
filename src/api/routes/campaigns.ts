import type { FastifyInstance } from 'fastify';
import type { Campaign } from '../../campaigns/campaign.js';
import { CampaignError } from '../../campaigns/campaign-error.js';
import { formatDays, formatWindow, MAX_ATTEMPTS_LIMIT, MAX_CANARY, MAX_CONCURRENCY } from '../../campaigns/campaign-input.js';
import type { CampaignReport } from '../../campaigns/campaign-service.js';
import { parameterValuesSchema } from '../../management/task-input.js';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';
import { whereSchema } from '../where.js';

const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 64 } } } as const;
const text = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'where'],
  properties: {
    name: text(64),
    where: whereSchema,
    firmware: text(128),
    set: parameterValuesSchema,
    canary: { type: 'integer', minimum: 0, maximum: MAX_CANARY },
    waves: text(200),
    concurrency: { type: 'integer', minimum: 1, maximum: MAX_CONCURRENCY },
    window: text(16),
    timezone: text(64),
    days: text(64),
    stopFailureRate: text(10),
    maxAttempts: { type: 'integer', minimum: 1, maximum: MAX_ATTEMPTS_LIMIT },
    start: { type: 'boolean' },
  },
} as const;

const STATUS = { 'not-found': 404, exists: 409, conflict: 409, 'bad-request': 400, 'bad-selector': 400, 'file-not-found': 404 } as const;

async function refusing<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof CampaignError) throw new ApiError(STATUS[err.code], err.code, err.message);
    throw err;
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const pct = (f: number) => `${Math.round(f * 1000) / 10}%`;

/** A campaign as the API shows it: the options in the operator's spelling. */
export function campaignView(c: Campaign) {
  const s = c.spec;
  return {
    name: c.name,
    state: c.state,
    reason: c.reason,
    where: s.where,
    action: s.action,
    targetVersion: c.targetVersion,
    canary: s.canary,
    waves: s.waves.map(pct).join(','),
    concurrency: s.concurrency,
    window: formatWindow(s.window),
    timezone: s.timezone,
    days: formatDays(s.days),
    stopFailureRate: pct(s.stopFailureRate),
    maxAttempts: s.maxAttempts,
    wave: c.wave,
    waveCount: Math.max(0, c.bounds.length - 1),
    total: c.total,
    createdAt: iso(c.createdAt),
    startedAt: iso(c.startedAt),
    finishedAt: iso(c.finishedAt),
  };
}

function reportView(r: CampaignReport) {
  return {
    ...campaignView(r.campaign),
    counts: r.counts,
    perWave: r.waves.map((w) => ({ wave: w.wave, size: w.size, counts: w.counts })),
    failures: r.failures.map((d) => ({ device: d.deviceId, reason: d.reason, attempts: d.attempts, at: iso(d.finishedAt) })),
  };
}

/** Staged campaigns: define, start, pause, resume, cancel, list and report (docs/campaigns.md). */
export function campaignRoutes(app: FastifyInstance, { campaigns }: ApiDeps): void {
  app.post<{ Body: Record<string, unknown> & { name: string; where: string; start?: boolean } }>('/v1/campaigns', { schema: { body: createBody } }, async (req, reply) => {
    const { name, start, ...input } = req.body;
    const created = await refusing(() => campaigns.create(name, input as never));
    const c = start ? await refusing(() => campaigns.start(created.name)) : created;
    return reply.code(201).send(campaignView(c));
  });

  app.get('/v1/campaigns', async () => ({ campaigns: (await campaigns.list()).map(campaignView) }));

  app.get<{ Params: { name: string } }>('/v1/campaigns/:name', { schema: { params: nameParams } }, async (req) => reportView(await refusing(() => campaigns.report(req.params.name))));

  for (const command of ['start', 'pause', 'resume', 'cancel'] as const) {
    app.post<{ Params: { name: string } }>(`/v1/campaigns/:name/${command}`, { schema: { params: nameParams } }, async (req) =>
      campaignView(await refusing(() => (command === 'start' ? campaigns.start(req.params.name) : campaigns.command(req.params.name, command)))),
    );
  }
}
