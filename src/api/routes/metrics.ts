import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

/** Prometheus text format. Public like /health: counts only, and the admin listener stays on loopback. */
export function metricsRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get('/metrics', { config: { access: 'public' } }, async (_req, reply) => {
    const text = await deps.metrics.metrics();
    return reply.type(deps.metrics.contentType).send(text);
  });
}
