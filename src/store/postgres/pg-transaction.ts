import { createHash } from 'node:crypto';
import type pg from 'pg';

/** SQLSTATEs after which the whole transaction is simply run again. */
const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/** A query with a name: node-postgres prepares it once per connection and reuses the plan. */
export const named = (name: string, text: string) => (values: readonly unknown[] = []): pg.QueryConfig => ({ name, text, values: values as unknown[] });

/**
 * The name of a statement put together from parts (one of a few shapes, each prepared once per connection): a
 * digest of them, as PostgreSQL cuts names at 63 bytes and two long shapes alike in those would clash as one.
 */
export const shapeName = (prefix: string, parts: readonly string[]): string => `${prefix}_${createHash('sha256').update(parts.join(' ')).digest('hex').slice(0, 24)}`;

/**
 * A transaction-scoped advisory lock on `key` within one feature's `namespace` (hashed to 64 bits from
 * 'stbd-NAMESPACE:KEY', so features never share a lock by accident); released at COMMIT or ROLLBACK.
 */
export const advisoryLock = (name: string, namespace: string) => named(name, `SELECT ${advisoryLockCall(namespace, '$1')}`);

/** The call that takes advisoryLock's lock on the key in `param` (e.g. '$1'), for a statement that takes it itself. */
export const advisoryLockCall = (namespace: string, param: string) => `pg_advisory_xact_lock(hashtextextended('stbd-${namespace}:' || ${param}, 0))`;

/**
 * Runs `fn` in one transaction on one pooled connection, committing when it returns. Serialization
 * failures and deadlocks are retried (a few times, at once: they are the engine telling two units of
 * work to go one after the other); any other error rolls back and is thrown, a rule's refusal included.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const c = await pool.connect();
    // A connection lost while checked out is also emitted as an 'error' event, which nobody else listens to
    // then (the pool only does for idle ones): unheard, it would be an uncaught exception. The query in
    // flight fails with it anyway, so the event itself needs no handling.
    let broken: Error | undefined;
    const lost = (err: Error) => void (broken = err);
    c.on('error', lost);
    try {
      await c.query('BEGIN');
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (err) {
      if (!broken) await c.query('ROLLBACK').catch(() => undefined);
      if (attempt >= attempts || !RETRYABLE.has((err as { code?: string }).code ?? '')) throw err;
    } finally {
      c.off('error', lost);
      // A broken connection is destroyed, not handed to the next unit of work.
      c.release(broken);
    }
  }
}
