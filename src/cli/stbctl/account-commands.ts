import type { Command } from 'commander';
import { contextOf } from './context.js';
import { formatTable } from './output.js';

/** GET /v1/accounts/ACCOUNT: what one BSS account holds now. */
interface AccountView {
  account: string;
  bound: { device: string; state: string; via: string; boundAt: string }[];
  pooled: { device: string; pooledAt: string; recycleAt: string; state: string; lastError: string | null }[];
}

/** One account as the binding service (seed 000) sees it. */
export function accountCommands(program: Command): void {
  const account = program.command('account').description('BSS accounts: the devices bound to one, and those it parked in the pool');

  account
    .command('show <account>')
    .description('the devices bound to an account (state, how, since when) and those waiting in the recycling pool')
    .action(async (name: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const a = await ctx.client.request<AccountView>('GET', `/v1/accounts/${encodeURIComponent(name)}`);
      if (ctx.json) return ctx.printJson(a);
      ctx.print(`account ${a.account}\n\n`);
      ctx.print(a.bound.length === 0 ? 'bound: none\n' : `bound:\n${formatTable(['DEVICE', 'STATE', 'VIA', 'BOUND AT'], a.bound.map((b) => [b.device, b.state, b.via, b.boundAt]))}`);
      ctx.print(
        a.pooled.length === 0
          ? '\nin the pool: none\n'
          : `\nin the pool:\n${formatTable(['DEVICE', 'POOLED', 'RECYCLE AT', 'STATE', 'LAST ERROR'], a.pooled.map((p) => [p.device, p.pooledAt, p.recycleAt, p.state, p.lastError ?? '-']))}`,
      );
    });
}
