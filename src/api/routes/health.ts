import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

/**
 * `/health` for probes and load balancers (no token; 503 only when failing, so a degraded daemon stays in
 * service), and `/v1/status` for the operator: the same checks plus the daemon's facts, behind the token.
 */
export function healthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const startedAt = deps.clock.now();
  const facts = () => ({
    version: deps.version,
    uptimeSeconds: Math.floor((deps.clock.now() - startedAt) / 1000),
    devices: { registered: deps.registry.count, online: deps.keepalive.onlineCount },
  });

  app.get('/health', { config: { access: 'public' } }, async (_req, reply) => {
    const report = await deps.health.report();
    return reply.code(report.status === 'failing' ? 503 : 200).send({ ...report, ...facts() });
  });

  app.get('/v1/status', async () => ({ ...(await deps.health.report()), ...facts() }));
}
