import { type Command, Option } from 'commander';
import { positiveInt } from './arg-parsers.js';
import { contextOf } from './context.js';
import { formatTable } from './output.js';

interface UploadView {
  readonly id: number;
  readonly device: string;
  readonly task: number;
  readonly fileType: string;
  readonly contentType: string;
  readonly size: number;
  readonly sha256: string;
  readonly receivedAt: string;
}

const MAX_LIST = 100;

/**
 * The files devices uploaded (stbctl upload ID): `stbctl uploads ID` lists a device's, `stbctl upload get
 * UPLOAD` fetches one. `upload` is the task command too: `get` as its first operand is this subcommand.
 */
export function uploadCommands(program: Command, upload: Command): void {
  program
    .command('uploads <id>')
    .description("a device's uploaded files, newest first: ID, TASK, TYPE, SIZE, RECEIVED, SHA-256 (the newest [uploads] keep_per_device are kept)")
    .addOption(new Option('--limit <n>', `how many (1–${MAX_LIST})`).argParser(positiveInt('a count', MAX_LIST)).default(MAX_LIST))
    .action(async (id: string, opts: { limit: number }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { uploads } = await ctx.client.request<{ uploads: UploadView[] }>('GET', `/v1/devices/${encodeURIComponent(id)}/uploads?limit=${opts.limit}`);
      if (ctx.json) return ctx.printJson(uploads);
      if (uploads.length === 0) return ctx.print(`no uploads from ${id} (ask for one: stbctl upload ${id} --type config|log)\n`);
      ctx.print(formatTable(['ID', 'TASK', 'TYPE', 'SIZE', 'RECEIVED', 'SHA-256'], uploads.map((u) => [String(u.id), String(u.task), u.fileType, String(u.size), u.receivedAt, u.sha256])));
    });

  upload
    .command('get')
    .argument('<upload>', 'the upload id (stbctl uploads ID lists them)', positiveInt('an upload id'))
    .description('write an uploaded file to standard output, or to FILE with --output (mode 0600)')
    .addOption(new Option('--output <file>', 'write to FILE instead of standard output'))
    .action(async (id: number, opts: { output?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const file = opts.output ?? '-';
      const bytes = await ctx.client.download(`/v1/uploads/${id}/content`, file);
      if (file === '-') return;
      if (ctx.json) return ctx.printJson({ upload: id, file, bytes });
      ctx.print(`upload ${id}: ${bytes.toLocaleString('en-US')} bytes written to ${file}\n`);
    });
}
