import type { Command } from 'commander';
import { contextOf } from './context.js';
import { formatTable } from './output.js';

const pair = (account: string, device: string) => `/v1/accounts/${encodeURIComponent(account)}/devices/${encodeURIComponent(device)}`;

interface Entry {
  device: string;
  account: string;
  pooledAt: string;
  recycleAt: string;
  state: string;
  attempts: number;
  lastError: string | null;
}

/** Binding and the recycling pool (seed 000), as the BSS sees them. */
export function poolCommands(program: Command): void {
  program
    .command('bind <account> <device>')
    .description('bind a device to an account: "confirmed" (it came from the pool) or "registered" (the CAS registered it now)')
    .action(async (account: string, device: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await ctx.client.request<{ result: string }>('PUT', pair(account, device));
      if (ctx.json) return ctx.printJson(r);
      ctx.print(`${device} bound to ${account}: ${r.result}\n`);
    });

  program
    .command('unbind <account> <device>')
    .description('unbind a device; it waits in the recycling pool until its recycle time')
    .action(async (account: string, device: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await ctx.client.request<{ result: string; recycleAt: string }>('DELETE', pair(account, device));
      if (ctx.json) return ctx.printJson(r);
      ctx.print(`${device} unbound from ${account}; in the pool until ${r.recycleAt}\n`);
    });

  const pool = program.command('pool').description('the recycling pool');

  pool
    .command('list')
    .description('pool entries, in device order')
    .option('--account <account>', 'only the devices this account parked')
    .action(async (opts: { account?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const entries: Entry[] = [];
      let after = '';
      for (;;) {
        const q = new URLSearchParams({ after, limit: '5000', ...(opts.account ? { account: opts.account } : {}) });
        const page = await ctx.client.request<{ entries: Entry[]; next: string | null }>('GET', `/v1/pool?${q}`);
        entries.push(...page.entries);
        if (page.next === null) break;
        after = page.next;
      }
      if (ctx.json) return ctx.printJson(entries.map(({ device, account, pooledAt, recycleAt, state, attempts, lastError }) => ({ device, account, pooledAt, recycleAt, state, attempts, lastError })));
      ctx.print(formatTable(['DEVICE', 'ACCOUNT', 'POOLED', 'RECYCLE AT', 'STATE', 'LAST ERROR'], entries.map((e) => [e.device, e.account, e.pooledAt, e.recycleAt, e.state, e.lastError ?? '-'])));
    });

  pool
    .command('history')
    .description('the audit trail of binding and the pool, newest first')
    .option('--device <device>', 'only this device')
    .option('--limit <n>', 'how many events', '100')
    .action(async (opts: { device?: string; limit: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const q = new URLSearchParams({ limit: opts.limit, ...(opts.device ? { device: opts.device } : {}) });
      const r = await ctx.client.request<{ events: { at: string; event: string; device: string; account: string | null; detail: string | null }[] }>('GET', `/v1/pool/history?${q}`);
      if (ctx.json) return ctx.printJson(r.events);
      ctx.print(formatTable(['AT', 'EVENT', 'DEVICE', 'ACCOUNT', 'DETAIL'], r.events.map((e) => [e.at, e.event, e.device, e.account ?? '-', e.detail ?? ''])));
    });
}
