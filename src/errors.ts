import { formatListen, type ListenAddress } from './config/listen.js';

/**
 * A problem the operator can fix (bad config, unusable database file, port in use…).
 * The daemon prints its message as one line and exits non-zero, without a stack trace.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
}

const WHY: Record<string, string> = {
  EADDRINUSE: 'the address is already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'no such local address',
};

/** A socket could not be bound; `key` names the config key that chose the address. */
export class ListenError extends OperatorError {
  constructor(key: string, at: ListenAddress, err: NodeJS.ErrnoException) {
    super(`cannot listen on ${formatListen(at)} (${key}): ${WHY[err.code ?? ''] ?? err.message} [${err.code ?? 'error'}]`);
    this.name = 'ListenError';
  }
}
