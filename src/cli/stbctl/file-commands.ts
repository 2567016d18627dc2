import cliProgress from 'cli-progress';
import { type Command, Option } from 'commander';
import { FILE_TYPES } from '../../files/file-record.js';
import { contextOf } from './context.js';
import { formatPairs, formatTable, plural } from './output.js';

interface FileView {
  readonly id: string;
  readonly type: string;
  readonly version: string;
  readonly productClass: string | null;
  readonly oui: string | null;
  readonly size: number;
  readonly sha256: string;
  readonly addedAt: string;
}

const path = (id: string) => `/v1/files/${encodeURIComponent(id)}`;
const pairs = (f: FileView) =>
  formatPairs([
    ['id', f.id],
    ['type', f.type],
    ['version', f.version],
    ['product class', f.productClass ?? '(any)'],
    ['OUI', f.oui ?? '(any)'],
    ['size', `${f.size.toLocaleString('en-US')} bytes`],
    ['SHA-256', f.sha256],
    ['added', f.addedAt],
  ]);

/** `stbctl file add|list|show|remove|url`: the files stbd serves to devices (firmware images, configuration files). */
export function fileCommands(program: Command): void {
  const file = program.command('file').description('the files stbd serves to devices: firmware images, configuration files');

  file
    .command('add <path>')
    .description('upload a file for stbd to serve (streamed; its size and SHA-256 are recorded); prints its id')
    .addOption(new Option('--type <type>', 'what it is').choices([...FILE_TYPES]).makeOptionMandatory())
    .requiredOption('--version <version>', 'its version (for firmware: the SoftwareVersion a device reports once it runs it)')
    .option('--product-class <class>', 'the devices it is for (their ProductClass)')
    .option('--oui <oui>', 'the devices it is for (their ManufacturerOUI, 6 hex digits)')
    .addHelpText('after', '\nThe id is made of what the file is: firmware-2.1.0, or firmware-2.1.0-stb-00d09e with --product-class STB\n--oui 00D09E. The same one twice is refused: remove the old one first.')
    .action(async (file: string, opts: { type: string; version: string; productClass?: string; oui?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const query = new URLSearchParams({ type: opts.type, version: opts.version, ...(opts.productClass === undefined ? {} : { productClass: opts.productClass }), ...(opts.oui === undefined ? {} : { oui: opts.oui }) });
      // A progress bar only for a person watching a terminal; scripts get clean output.
      const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'uploading {bar} {percentage}% | {value}/{total} bytes', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic) : undefined;
      let started = false;
      let f: FileView;
      try {
        f = await ctx.client.sendFile<FileView>(`/v1/files?${query}`, file, (sent, total) => {
          if (!bar) return;
          if (!started) bar.start(total, 0);
          started = true;
          bar.update(sent);
        });
      } finally {
        if (started) bar?.stop();
      }
      if (ctx.json) return ctx.printJson(f);
      ctx.print(`added file ${f.id}: ${f.size.toLocaleString('en-US')} bytes, SHA-256 ${f.sha256}\n`);
    });

  file
    .command('list')
    .description('every file: ID, TYPE, VERSION, PRODUCT CLASS, OUI, SIZE, ADDED')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { files } = await ctx.client.request<{ files: FileView[] }>('GET', '/v1/files');
      if (ctx.json) return ctx.printJson(files);
      if (files.length === 0) return ctx.print('no files (add one: stbctl file add PATH --type firmware --version V)\n');
      ctx.print(formatTable(['ID', 'TYPE', 'VERSION', 'PRODUCT CLASS', 'OUI', 'SIZE', 'ADDED'], files.map((f) => [f.id, f.type, f.version, f.productClass ?? '-', f.oui ?? '-', String(f.size), f.addedAt])));
    });

  file
    .command('show <id>')
    .description("a file's description: type, version, the devices it is for, size, SHA-256")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const f = await ctx.client.request<FileView>('GET', path(id));
      if (ctx.json) return ctx.printJson(f);
      ctx.print(pairs(f));
    });

  file
    .command('remove <id>')
    .description('stop serving a file and delete it (refused while a campaign uses it)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const f = await ctx.client.request<FileView>('DELETE', path(id));
      if (ctx.json) return ctx.printJson(f);
      ctx.print(`removed file ${f.id} (${plural(f.size, 'byte')})\n`);
    });

  file
    .command('url <id> <device>')
    .description("the URL DEVICE fetches the file from (its token expires after [files] url_validity): for stbctl download DEVICE URL")
    .action(async (id: string, device: string, _opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await ctx.client.request<{ url: string; size: number; validForSeconds: number }>('GET', `${path(id)}/url?device=${encodeURIComponent(device)}`);
      if (ctx.json) return ctx.printJson(r);
      ctx.print(`${r.url}\n`);
    });
}
