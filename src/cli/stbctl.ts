import { Command, CommanderError } from 'commander';
import { packageVersion } from '../version.js';
import { certCommands } from './stbctl/cert-commands.js';
import { CliError } from './stbctl/cli-error.js';
import { deviceCommands } from './stbctl/device-commands.js';
import { importCommand } from './stbctl/import-command.js';
import { poolCommands } from './stbctl/pool-commands.js';
import { statusCommand } from './stbctl/status-command.js';
import { taskCommands } from './stbctl/task-commands.js';

/** Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
const program = new Command('stbctl')
  .description('Admin CLI for stbd. The API address and token come from --api/--token, or --config FILE, or STBD_API/STBD_TOKEN, or the default config.')
  .version(packageVersion())
  .option('-c, --config <file>', 'read [api] listen and [api] token_file from this stbd config file')
  .option('--api <url>', 'admin API base URL, e.g. http://127.0.0.1:7557 (env STBD_API)')
  .option('--token <token>', 'admin API bearer token (env STBD_TOKEN)')
  .option('--json', 'print machine-readable JSON')
  .showHelpAfterError()
  .exitOverride();

statusCommand(program);
deviceCommands(program);
importCommand(program);
poolCommands(program);
taskCommands(program);
certCommands(program);

try {
  await program.parseAsync();
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  const json = process.argv.includes('--json');
  const code = err instanceof CliError ? err.code : 'internal';
  const message = err instanceof Error ? err.message : String(err);
  if (json) process.stdout.write(`${JSON.stringify({ error: code, message })}\n`);
  else process.stderr.write(`stbctl: ${message}\n`);
  process.exit(code === 'bad-usage' ? 2 : 1);
}
