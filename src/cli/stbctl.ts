import { Command, CommanderError } from 'commander';
import { packageVersion } from '../version.js';
import { accountCommands } from './stbctl/account-commands.js';
import { campaignCommands } from './stbctl/campaign-commands.js';
import { certCommands } from './stbctl/cert-commands.js';
import { clusterCommands } from './stbctl/cluster-commands.js';
import { CliError } from './stbctl/cli-error.js';
import { deviceCommands } from './stbctl/device-commands.js';
import { fileCommands } from './stbctl/file-commands.js';
import { importCommand } from './stbctl/import-command.js';
import { poolCommands } from './stbctl/pool-commands.js';
import { statusCommand } from './stbctl/status-command.js';
import { profileCommands } from './stbctl/profile-commands.js';
import { tagCommands } from './stbctl/tag-commands.js';
import { SYSTEM_CONFIG_FILE } from './stbctl/target.js';
import { taskCommands } from './stbctl/task-commands.js';
import { oneLineUsageErrors, seeHelp } from './stbctl/usage-errors.js';
import { backupCommand } from './stbctl/backup-command.js';
import { caCommands } from './stbctl/ca-commands.js';

const HELP = `
Where the API is: --api and --token; else the config file's [api] listen and [api] token_file, the file
being --config FILE, else $STBD_CONFIG, else ${SYSTEM_CONFIG_FILE} when it exists, else config/stbd.toml
of this stbd installation. Without --config, $STBD_API and $STBD_TOKEN come before the config file.

Examples:
  stbctl status
  stbctl device show 00259E-STB-0001
  stbctl get 00259E-STB-0001 Device.DeviceInfo.SoftwareVersion --wait 30s
  stbctl reboot --from pilot.txt --wait 5m
  stbctl tag 00259E-STB-0001 pilot
  stbctl reboot --where "tag = 'pilot' AND softwareVersion < '3.2'" --wait 5m
  stbctl --config /etc/stbd/stbd.toml tasks 00259E-STB-0001 --json

stbctl -V (or --version) prints the version.

Exit codes: 0 ok, 1 the operation failed, 2 the command line was wrong (usage).`;

async function main(argv: readonly string[]): Promise<void> {
  if (argv[2] === '-V' || argv[2] === '--version') return void process.stdout.write(`${packageVersion()}\n`);
  const program = new Command('stbctl')
    .description('Admin CLI for stbd.')
    // -V/--version is not a program option (those are taken anywhere on the line, and `stbctl file add
    // --version V` is the file's): main() answers it as the first argument.
    .option('-c, --config <file>', `the stbd config file to read [api] listen and [api] token_file from (env STBD_CONFIG; default ${SYSTEM_CONFIG_FILE} if it exists)`)
    .option('--api <url>', 'admin API base URL, e.g. http://127.0.0.1:7557 (env STBD_API)')
    .option('--token <token>', 'admin API bearer token (env STBD_TOKEN)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', HELP)
    // Errors are printed below, in one line; subcommands inherit these settings when created.
    .showHelpAfterError(false)
    .configureOutput({ outputError: () => {} });

  statusCommand(program);
  deviceCommands(program);
  tagCommands(program);
  profileCommands(program);
  importCommand(program);
  poolCommands(program);
  accountCommands(program);
  taskCommands(program);
  certCommands(program);
  campaignCommands(program);
  backupCommand(program);
  caCommands(program);
  fileCommands(program);
  clusterCommands(program);
  oneLineUsageErrors(program);

  // The command whose action runs, for the help hint of the usage errors its action finds.
  let running: Command | undefined;
  program.hook('preAction', (_program, action) => {
    running = action;
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    const json = argv.includes('--json');
    const code = err instanceof CliError ? err.code : 'internal';
    let message = err instanceof Error ? err.message : String(err);
    if (code === 'bad-usage' && running && !message.includes(" --help'")) message += `; ${seeHelp(running)}`;
    if (json) process.stdout.write(`${JSON.stringify({ error: code, message })}\n`);
    else process.stderr.write(`stbctl: ${message}\n`);
    process.exit(code === 'bad-usage' ? 2 : 1);
  }
}

await main(process.argv);
