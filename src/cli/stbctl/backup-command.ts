import type { Command } from 'commander';
import { contextOf } from './context.js';

export function backupCommand(program: Command): void {
  program
    .command('backup <file>')
    .description(
      'write a consistent copy of the database, taken while stbd runs, to FILE (mode 0600). The master key ([ca] master_key_file) is not in it: back that up separately, or the copy\'s keys and secrets cannot be opened',
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const ctx = contextOf(cmd);
      const bytes = await ctx.client.download('/v1/backup', file);
      if (ctx.json) return ctx.printJson({ file, bytes });
      ctx.print(`backup of ${bytes.toLocaleString('en-US')} bytes written to ${file}\nthe master key ([ca] master_key_file) is not in it: back it up separately\n`);
    });
}
