import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

export function healthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const startedAt = deps.clock.now();
  app.get('/health', { config: { access: 'public' } }, async () => ({
    status: 'ok',
    version: deps.version,
    uptimeSeconds: Math.floor((deps.clock.now() - startedAt) / 1000),
    devices: { registered: deps.registry.count, online: deps.keepalive.onlineCount },
  }));
}
