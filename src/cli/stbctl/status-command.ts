import type { Command } from 'commander';
import { contextOf } from './context.js';
import { formatPairs } from './output.js';

interface Health {
  status: string;
  version: string;
  uptimeSeconds: number;
  devices: { registered: number; online: number };
}

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description("the daemon's health: version, uptime, device counts (exit 1 if it cannot be reached)")
    .action(async (_opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const h = await ctx.client.request<Health>('GET', '/health', { auth: false });
      if (ctx.json) return ctx.printJson({ api: ctx.client.target.baseUrl, ...h });
      ctx.print(
        formatPairs([
          ['stbd', `${h.status} (version ${h.version}) at ${ctx.client.target.baseUrl}`],
          ['uptime', `${h.uptimeSeconds} s`],
          ['devices', `${h.devices.registered} registered, ${h.devices.online} online`],
        ]),
      );
    });
}
