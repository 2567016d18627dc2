/**
 * Whether an error says the store cannot be reached just now (PostgreSQL restarting, a failover, a lost
 * connection, every connection busy; SQLite locked past its busy timeout) rather than that the request was
 * wrong: the caller answers 503 and the client tries again. Nothing was acknowledged.
 */
export function isStoreUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    // SQLSTATE class 08: connection exceptions; 57P01–57P03: the server is shutting down, crashed, or starting;
    // 53300: too many connections; 57014: [store] statement_timeout cancelled it. Node's socket errors when the server is gone.
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300', '57014'].includes(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'SQLITE_BUSY'].includes(code)) return true;
  }
  // node-postgres reports a dropped connection, and a pool that could not connect in time, by message only.
  return typeof message === 'string' && /^(Connection terminated|timeout exceeded when trying to connect|timeout expired|Client has encountered a connection error|Client was closed)/.test(message);
}
