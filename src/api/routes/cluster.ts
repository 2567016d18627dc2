import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../server.js';

/** GET /v1/cluster: every node of the cluster (on SQLite the one node), as `stbctl cluster status` shows them. */
export function clusterRoutes(app: FastifyInstance, { cluster }: ApiDeps): void {
  app.get('/v1/cluster', async () => ({ node: cluster.id, nodes: await cluster.status() }));
}
