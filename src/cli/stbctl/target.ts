import { existsSync } from 'node:fs';
import { DEFAULT_CONFIG_FILE, loadConfig } from '../../config/load.js';
import { connectHost, formatListen } from '../../config/listen.js';
import { readToken } from '../../api/token-file.js';
import { OperatorError } from '../../errors.js';
import { CliError } from './cli-error.js';

export interface TargetOptions {
  readonly config?: string;
  readonly api?: string;
  readonly token?: string;
}

export interface ApiTarget {
  readonly baseUrl: string;
  /** Read lazily: only when a request carries it, so a bad --api is reported before a missing token file. */
  token(): string;
}

/** Where an installed stbd keeps its config (the systemd unit's). */
export const SYSTEM_CONFIG_FILE = '/etc/stbd/stbd.toml';

/** The config file: --config, then STBD_CONFIG, then the system one when it exists, then the package's own. */
export function configFileOf(opts: TargetOptions, env: NodeJS.ProcessEnv): string {
  return opts.config ?? (env['STBD_CONFIG'] || undefined) ?? (existsSync(SYSTEM_CONFIG_FILE) ? SYSTEM_CONFIG_FILE : DEFAULT_CONFIG_FILE);
}

/**
 * Where the API is and which token to use. Each of the two is taken from the first that has it:
 * the --api/--token flags; --config FILE when given; STBD_API/STBD_TOKEN; the config file found by configFileOf.
 */
export function resolveTarget(opts: TargetOptions, env: NodeJS.ProcessEnv): ApiTarget {
  const configFile = configFileOf(opts, env);
  const config = () => {
    try {
      return loadConfig(configFile);
    } catch (err) {
      throw new CliError('bad-config', err instanceof OperatorError ? err.message : String(err));
    }
  };
  const fromConfig = opts.config !== undefined;
  let baseUrl = opts.api ?? (fromConfig ? undefined : env['STBD_API'] || undefined);
  if (baseUrl === undefined) {
    const listen = config().api.listen;
    baseUrl = `http://${formatListen({ host: connectHost(listen), port: listen.port })}`;
  }
  if (!/^https?:\/\/[^/]+\/?$/.test(baseUrl)) throw new CliError('bad-usage', `--api/STBD_API must look like http://HOST:PORT, got ${JSON.stringify(baseUrl)}`);
  const token = opts.token ?? (fromConfig ? undefined : env['STBD_TOKEN'] || undefined);
  return {
    baseUrl: baseUrl.replace(/\/$/, ''),
    token() {
      if (token !== undefined) return token;
      try {
        return readToken(config().api.token_file);
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError('no-token', `${(err as Error).message} (pass --token, set STBD_TOKEN, or run as a user that can read it)`);
      }
    },
  };
}
