/**
 * A problem the operator can fix (bad config, unusable database file, port in use…).
 * The daemon prints its message as one line and exits non-zero, without a stack trace.
 */
export class OperatorError extends Error {
  override name = 'OperatorError';
}
