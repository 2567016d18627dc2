import { Command } from 'commander';
import { BUILTIN_CA_NAME, BuiltinCa } from '../ca/builtin-ca.js';
import { SqliteCaRepo } from '../ca/ca-repo.js';
import { loadMasterKey } from '../ca/master-key.js';
import { SealedBox, SealError } from '../ca/sealed-box.js';
import { systemClock } from '../clock.js';
import { checkReferencedFiles } from '../config/check-files.js';
import { seeHelp } from './stbctl/usage-errors.js';
import { caCertificateText, caCertificateView } from '../ca/ca-certificate.js';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../config/load.js';
import { formatListen } from '../config/listen.js';
import { startDaemon } from '../daemon.js';
import { OperatorError } from '../errors.js';
import { openDatabase } from '../store/database.js';
import { storeName } from '../store/open-store.js';
import { storeCopy } from './store-copy-command.js';
import { createLogger } from '../log/logger.js';
import { packageVersion } from '../version.js';

/** SIGTERM must finish within this, or systemd would have to SIGKILL us. */
const STOP_DEADLINE_MS = 5_000;

function fail(err: unknown): never {
  if (err instanceof OperatorError) {
    process.stderr.write(`stbd: ${err.message}\n`);
  } else {
    process.stderr.write(`stbd: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
  process.exit(1);
}

async function run(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  const log = createLogger(config.log.level);
  let fatal = false;
  const daemon = await startDaemon({ config, log, clock: systemClock, onFatal: () => ((fatal = true), stop('SIGTERM')) });
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => {
      log.error({ deadlineMs: STOP_DEADLINE_MS }, 'graceful stop took too long; exiting');
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    daemon.stop().then(
      () => process.exit(fatal ? 1 : 0),
      (err: unknown) => {
        log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A bug must not leave a half-working daemon: log it and exit so systemd restarts us.
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'uncaught exception');
    process.exit(70);
  });
}

const program = new Command('stbd')
  .description('Set-top box management daemon (STUN keepalives, CWMP, device pool, certificate proxy)')
  .version(packageVersion())
  .option('-c, --config <file>', 'configuration file', DEFAULT_CONFIG_FILE)
  .addHelpText(
    'after',
    `
Examples:
  stbd                                         run on the embedded default config (state under ./var/)
  stbd --config /etc/stbd/stbd.toml            run on a production config (as the systemd unit does)
  stbd check-config --config /etc/stbd/stbd.toml
  stbd ca init --config /etc/stbd/stbd.toml    create the builtin CA now and print its certificate
  stbd store copy --config /etc/stbd/stbd.toml --to-config /etc/stbd/stbd-postgres.toml
                                               move the store to PostgreSQL (stbd stopped)

Exit codes: 0 ok (stopped by SIGTERM or SIGINT), 1 it could not start or run (one line on stderr says
why, naming the config key), 2 the command line was wrong.`,
  )
  .showHelpAfterError(false)
  .configureOutput({ outputError: () => {} });

program
  .command('run', { isDefault: true })
  .description('run the daemon (the default command)')
  .action(async (_opts, cmd: Command) => {
    await run(cmd.optsWithGlobals<{ config: string }>().config).catch(fail);
  });

program
  .command('check-config')
  .description('validate the configuration file, and the files it points to (tokens, keys, TLS files, bootstrap credentials), without starting; exit 0 if it is usable')
  .action((_opts, cmd: Command) => {
    try {
      const config = loadConfig(cmd.optsWithGlobals<{ config: string }>().config);
      const problems = checkReferencedFiles(config);
      if (problems.length > 0) {
        for (const p of problems) process.stderr.write(`stbd: ${config.file}: ${p}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${config.file}: OK (api ${formatListen(config.api.listen)}, store ${storeName(config.store)})\n`);
    } catch (err) {
      fail(err);
    }
  });


/**
 * Creates the builtin CA now, as the daemon would on first use (same store, same master key), and prints
 * its certificate. SQLite WAL and CaRepo's insert-unless-present make it safe beside a running daemon.
 */
async function caInit(configFile: string): Promise<void> {
  const config = loadConfig(configFile);
  const box = new SealedBox(loadMasterKey(config.ca.master_key_file, config.ca.create_master_key));
  const db = openDatabase(config.store.path, {
    synchronous: config.store.synchronous,
    busyTimeoutMs: config.store.busy_timeout,
    sealer: box,
    onWarning: (message) => process.stderr.write(`stbd: database: ${message}\n`),
  });
  try {
    const repo = new SqliteCaRepo(db);
    const existed = (await repo.get(BUILTIN_CA_NAME)) !== undefined;
    let ca: BuiltinCa;
    try {
      ca = await BuiltinCa.open(repo, box, systemClock);
    } catch (err) {
      if (err instanceof SealError) {
        throw new OperatorError(`the builtin CA in ${config.store.path} cannot be opened with the master key ${config.ca.master_key_file} (a different key sealed it)`);
      }
      throw err;
    }
    const head = existed ? `builtin CA already existed in ${config.store.path}` : `builtin CA created in ${config.store.path}`;
    process.stdout.write(`${head}\n${caCertificateText(caCertificateView(ca.certPem))}`);
  } finally {
    db.close();
  }
}

program
  .command('ca')
  .description('the builtin certificate authority')
  .command('init')
  .description("create the builtin CA now (in [store] path, its key sealed with [ca] master_key_file); print whether it was created or already existed, its subject, serial, validity and SHA-256 fingerprint, then the certificate as PEM (install it in STB trust stores) (exit 0)")
  .action(async (_opts, cmd: Command) => {
    await caInit(cmd.optsWithGlobals<{ config: string }>().config).catch(fail);
  });

program
  .command('store')
  .description('the store (database) as a whole')
  .command('copy')
  .description(
    'copy every row of every table from the store of --config (stbd stopped) into the empty store of --to-config (SQLite or PostgreSQL either way), ' +
      'then read it back and compare row counts and checksums table by table; nothing is kept unless all match (exit 0)',
  )
  .requiredOption('--to-config <file>', 'the configuration naming the store to copy into ([store] kind, path or url); it must be empty')
  .action(async (opts: { toConfig: string }, cmd: Command) => {
    await storeCopy(cmd.optsWithGlobals<{ config: string }>().config, opts.toConfig, { stdout: process.stdout, stderr: process.stderr }).catch(fail);
  });

// Usage errors: one line and the help hint, exit 2 (the help itself would bury what is wrong).
for (const cmd of [program, ...program.commands, ...program.commands.flatMap((c) => c.commands)]) {
  cmd.exitOverride((err) => {
    if (err.exitCode === 0 || err.code === 'commander.help' || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') process.exit(0);
    // `run` is the default command: its options are stbd's own.
    const hint = seeHelp(cmd).replace(/^see 'stbd run /, "see 'stbd ");
    process.stderr.write(`stbd: ${err.message.replace(/^error: /, '').replace(/\.$/, '')}; ${hint}\n`);
    process.exit(2);
  });
}
await program.parseAsync();
