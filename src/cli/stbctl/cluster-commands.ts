import type { Command } from 'commander';
import type { NodeStatus } from '../../cluster/cluster-node.js';
import { contextOf } from './context.js';
import { formatTable } from './output.js';

/** `stbctl cluster status`: every node of the cluster, as the daemon asked sees them. */
export function clusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('the nodes of the cluster (several stbds on one PostgreSQL; on SQLite the one node)');
  cluster
    .command('status')
    .description('each node: id, STUN address, alive, last heartbeat, devices whose binding it holds, online devices (exit 1 when a node is dead)')
    .action(async (_opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const s = await ctx.client.request<{ node: string; nodes: NodeStatus[] }>('GET', '/v1/cluster');
      if (s.nodes.some((n) => !n.alive)) ctx.setExitCode(1);
      if (ctx.json) return ctx.printJson(s);
      const drain = (n: NodeStatus) => (n.drain ? `${n.drain.done}/${n.drain.total}` : '');
      ctx.print(
        formatTable(
          ['NODE', 'STUN ADDRESS', 'ALIVE', 'LAST HEARTBEAT', 'OWNED', 'ONLINE', 'DRAIN'],
          s.nodes.map((n) => [`${n.id}${n.self ? ' *' : ''}`, n.stunAddress, n.alive ? 'yes' : 'no', n.lastHeartbeat, String(n.devicesOwned), String(n.online), drain(n)]),
        ),
      );
    });
}
