import { readFile, writeFile } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { credentialsCsv, ImportError, parseDeviceCsv } from '../../devices/csv-import.js';
import { DeviceInputValidator } from '../../devices/device-input.js';
import type { DeviceCredentials } from '../../devices/device.js';
import { CliError } from './cli-error.js';
import { contextOf } from './context.js';
import { plural } from './output.js';

const PASSWORDS = ['stunPassword', 'crPassword', 'cwmpPassword'] as const;

/** How many rows leave a password to be generated (0 for a file the daemon will refuse anyway: it says why). */
function generatedPasswordRows(text: string): number {
  try {
    return parseDeviceCsv(text, new DeviceInputValidator()).filter((r) => PASSWORDS.some((k) => r.input[k] === undefined)).length;
  } catch (err) {
    if (err instanceof ImportError) return 0;
    throw err;
  }
}

export function importCommand(program: Command): void {
  program
    .command('devices')
    .description('bulk operations on devices')
    .command('import <file>')
    .description('register every device of a CSV file in one transaction (a bad row refuses the whole file)')
    .option('--credentials-out <file>', 'write every imported device with its complete credentials (generated ones included) to this CSV, mode 0600')
    .option('--discard-generated', 'import even though passwords are generated and not written anywhere (they can never be shown again)')
    .addHelpText('after', '\nCSV header: id,stun_username,stun_password,cr_username,cr_password,cwmp_username,cwmp_password\nOnly "id" is required; empty cells are generated (usernames default to the id).')
    .action(async (file: string, opts: { credentialsOut?: string; discardGenerated?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      let data: Buffer;
      try {
        data = await readFile(file);
      } catch (err) {
        throw new CliError('bad-file', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
      }
      // Generated passwords are shown only by this call: refuse to throw them away unless told to.
      if (!opts.credentialsOut && !opts.discardGenerated) {
        const generating = generatedPasswordRows(data.toString('utf8'));
        if (generating > 0) {
          throw new CliError(
            'credentials-would-be-lost',
            `${plural(generating, 'row')} of ${file} ${generating === 1 ? 'leaves' : 'leave'} a password empty, so stbd would generate it and it could never be shown again: give --credentials-out FILE to keep them, or --discard-generated; nothing was imported`,
          );
        }
      }
      // A progress bar only for a person watching a terminal; scripts get clean output.
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'uploading {bar} {percentage}% | {value}/{total} bytes', stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      bar?.start(data.length, 0);
      const query = opts.credentialsOut ? '?credentials=true' : '';
      let result: { imported: number; credentials?: ({ id: string } & DeviceCredentials)[] };
      try {
        result = await ctx.client.request('POST', `/v1/devices/import${query}`, {
          body: {
            data,
            contentType: 'text/csv',
            onProgress: (sent) => {
              if (!bar) return;
              bar.update(sent);
              // Uploaded: the rest is the daemon's one transaction; say so rather than sit at 100 %.
              if (sent === data.length) {
                bar.stop();
                process.stderr.write('stbd is validating and importing the file in one transaction...\n');
              }
            },
          },
        });
      } finally {
        bar?.stop();
      }
      if (opts.credentialsOut && result.credentials) {
        await writeFile(opts.credentialsOut, credentialsCsv(result.credentials), { mode: 0o600 });
      }
      if (ctx.json) return ctx.printJson({ imported: result.imported });
      ctx.print(`imported ${plural(result.imported, 'device')}${opts.credentialsOut ? `; credentials written to ${opts.credentialsOut}` : ''}\n`);
    });
}
