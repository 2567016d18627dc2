import cliProgress from 'cli-progress';
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
  cluster
    .command('drain <node>')
    .description("moves every STB of NODE to the other nodes (their STUN settings queued, paced; they move at their next session), for maintenance; shows the progress unless --no-wait")
    .option('--no-wait', 'start the drain and return')
    .action(async (node: string, opts: { wait: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const started = await ctx.client.request<{ node: string; devices: number }>('POST', `/v1/cluster/nodes/${encodeURIComponent(node)}/drain`);
      const progress = async () => (await ctx.client.request<{ nodes: NodeStatus[] }>('GET', '/v1/cluster')).nodes.find((n) => n.id === node)?.drain ?? { total: started.devices, done: 0 };
      let p = { total: started.devices, done: 0 };
      if (opts.wait) {
        const bar = process.stderr.isTTY && !ctx.json ? new cliProgress.SingleBar({ format: `draining ${node} {bar} {value}/{total} STBs`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
        bar?.start(p.total, 0);
        while (p.done < p.total) {
          await new Promise((r) => setTimeout(r, 500));
          p = await progress();
          bar?.update(p.done);
        }
        bar?.stop();
      }
      if (ctx.json) return ctx.printJson({ node, devices: started.devices, queued: p.done });
      ctx.print(opts.wait ? `${node}: new STUN settings queued for ${p.done} of ${p.total} STBs; they move at their next session (stbctl cluster status shows what the node still holds)\n` : `${node}: drain started for ${started.devices} STBs (stbctl cluster status shows its progress)\n`);
    });
}
