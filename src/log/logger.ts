import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { redact } from '../secret-names.js';

export type { Logger };

/**
 * A safety net (code should not log secrets in the first place): every logged object goes through the one
 * list of secret names (passwords, secret CWMP parameters and their `{name, value}` pairs, passwords in URLs),
 * plus these fields of stbd's own that hold secrets under other names.
 */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['token', 'credentials', 'key', 'authorization', 'cookie']);

export function createLogger(level: LevelWithSilent, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'stbd' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: (object: Record<string, unknown>) => redact(object, SECRET_FIELDS) },
    // HTTP requests are objects of their own (not walked above): their credentials by path.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}
