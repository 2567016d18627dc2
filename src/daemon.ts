import type { AddressInfo } from 'node:net';
import { TokenAuth } from './api/auth.js';
import { buildApi } from './api/server.js';
import { loadOrCreateToken } from './api/token-file.js';
import type { Clock } from './clock.js';
import type { Config } from './config/schema.js';
import { formatListen, type ListenAddress } from './config/listen.js';
import { DeviceRepo } from './devices/device-repo.js';
import { DeviceRegistry } from './devices/registry.js';
import { generateSecret } from './devices/secrets.js';
import { OperatorError } from './errors.js';
import type { Logger } from './log/logger.js';
import { openDatabase } from './store/database.js';
import { packageVersion } from './version.js';

export class ListenError extends OperatorError {
  constructor(key: string, at: ListenAddress, err: NodeJS.ErrnoException) {
    const why = { EADDRINUSE: 'the address is already in use', EACCES: 'permission denied', EADDRNOTAVAIL: 'no such local address' }[err.code ?? ''];
    super(`cannot listen on ${formatListen(at)} (${key}): ${why ?? err.message} [${err.code ?? 'error'}]`);
    this.name = 'ListenError';
  }
}

export interface RunningDaemon {
  /** Where the admin API actually listens (the port is known even when the config said 0). */
  readonly api: ListenAddress;
  /** Graceful stop: stop accepting, finish in-flight requests, flush, close the database. */
  stop(): Promise<void>;
}

/** The composition root: builds every part from the config and starts it. */
export async function startDaemon(config: Config, log: Logger, clock: Clock): Promise<RunningDaemon> {
  const db = openDatabase(config.store.path, { synchronous: config.store.synchronous, busyTimeoutMs: config.store.busy_timeout });
  try {
    const token = loadOrCreateToken(config.api.token_file);
    const registry = new DeviceRegistry(new DeviceRepo(db), clock, generateSecret);
    const app = buildApi({ log, clock, auth: new TokenAuth([{ token, role: 'admin' }]), registry, version: packageVersion() });
    try {
      await app.listen({ host: config.api.listen.host, port: config.api.listen.port });
    } catch (err) {
      await app.close();
      throw new ListenError('[api] listen', config.api.listen, err as NodeJS.ErrnoException);
    }
    const bound = app.server.address() as AddressInfo;
    const api = { host: bound.address, port: bound.port };
    log.info({ api: formatListen(api), store: config.store.path, devices: registry.count, version: packageVersion() }, 'stbd started');
    return {
      api,
      async stop() {
        await app.close();
        db.close();
        log.info('stbd stopped');
      },
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
