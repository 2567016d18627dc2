import type { FastifyInstance } from 'fastify';
import { ApiError } from '../errors.js';
import type { ApiDeps } from '../server.js';

/**
 * GET /v1/cluster: every node of the cluster (on SQLite the one node), as `stbctl cluster status` shows them.
 * POST /v1/cluster/nodes/:node/drain: moves the node's STBs to the other nodes (202; progress in GET /v1/cluster).
 */
export function clusterRoutes(app: FastifyInstance, { cluster, drain }: ApiDeps): void {
  app.get('/v1/cluster', async () => ({ node: cluster.id, nodes: await cluster.status() }));

  app.post<{ Params: { node: string } }>(
    '/v1/cluster/nodes/:node/drain',
    { schema: { params: { type: 'object', required: ['node'], properties: { node: { type: 'string', minLength: 1, maxLength: 48 } } } } },
    async (req, reply) => {
      if (!drain) throw new ApiError(409, 'not-a-cluster', 'this stbd runs on SQLite: it is the only node, there is none to move its STBs to');
      const nodes = await cluster.status();
      const target = nodes.find((n) => n.id === req.params.node);
      if (!target) throw new ApiError(404, 'not-found', `no node ${JSON.stringify(req.params.node)} in the cluster (stbctl cluster status lists them)`);
      if (!nodes.some((n) => n.alive && n.id !== target.id && n.stunAddress !== '')) throw new ApiError(409, 'no-other-node', 'no other live node to move the STBs to');
      const total = await drain.start(target.id);
      return reply.code(202).send({ node: target.id, devices: total });
    },
  );
}
