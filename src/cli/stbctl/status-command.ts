import type { Command } from 'commander';
import { contextOf } from './context.js';
import { formatPairs, formatTable } from './output.js';

type CheckStatus = 'ok' | 'degraded' | 'failing';

interface Status {
  status: CheckStatus;
  checks: Record<string, { status: CheckStatus; detail: string }>;
  version: string;
  uptimeSeconds: number;
  devices: { registered: number; online: number };
}

/** 0 ok, 1 degraded, 2 failing: scripts and monitoring can tell the three apart without parsing. */
const EXIT: Record<CheckStatus, number> = { ok: 0, degraded: 1, failing: 2 };

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description("the daemon's health: version, uptime, device counts and each check (exit 0 ok, 1 degraded, unreachable or token refused, 2 failing)")
    .action(async (_opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      // /v1/status needs the token, so a wrong one is reported instead of a cheerful "ok".
      const s = await ctx.client.request<Status>('GET', '/v1/status');
      ctx.setExitCode(EXIT[s.status] ?? 1);
      if (ctx.json) return ctx.printJson({ api: ctx.client.target.baseUrl, ...s });
      ctx.print(
        formatPairs([
          ['stbd', `${s.status} (version ${s.version}) at ${ctx.client.target.baseUrl}`],
          ['uptime', `${s.uptimeSeconds} s`],
          ['devices', `${s.devices.registered} registered, ${s.devices.online} online`],
        ]),
      );
      ctx.print('\n');
      ctx.print(formatTable(['CHECK', 'STATUS', 'DETAIL'], Object.entries(s.checks).map(([name, c]) => [name, c.status, c.detail])));
    });
}
