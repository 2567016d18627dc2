import type pg from 'pg';
import { CLAIM_MS, claimable } from '../store/claims.js';
import { GroupCommit, type Settled } from '../store/group-commit.js';
import { advisoryLock, advisoryLockCall, inTransaction, named, shapeName } from '../store/postgres/pg-transaction.js';
import { decideGroup, writeGroup } from './pg-pool-group.js';
import { GROUP_MAX, opDevice, type PoolOp } from './pool-op.js';
import type { AuditEvent, Binding, OutboxRow, PoolEntry } from './pool-records.js';
import type { PoolRepo } from './pool-repo.js';
import { abandonedWrites, type BindInput, type BindOutcome, type Decision, decideOutboxDone, decideRecycle, outboxFailedWrites, type PoolRules, type PoolWrite, registeredWrites, registrationFailedWrites } from './pool-rules.js';
import { auditOf, bindingOf, entryOf, outboxOf } from './sqlite-pool-repo.js';

const Q = {
  // Thresholds count rows that may not exist yet (a bind inserts one), which no row lock can cover: a
  // transaction-scoped advisory lock per account serialises the units of work of one account, and one per
  // device those of one device. Always taken account first, then device, so two units never wait on each other.
  lockDevice: advisoryLock('pool_lock_device', 'pool-device'),
  binding: named('pool_binding', 'SELECT * FROM bindings WHERE device_id = $1'),
  bindingsOf: named('pool_bindings_of', 'SELECT * FROM bindings WHERE account = $1 ORDER BY device_id'),
  insertBinding: named('pool_insert_binding', 'INSERT INTO bindings (device_id, account, state, via, certificate_id, bound_at) VALUES ($1, $2, $3, $4, $5, $6)'),
  activateBinding: named('pool_activate_binding', "UPDATE bindings SET state = 'active', certificate_id = $1 WHERE device_id = $2 AND state = 'registering'"),
  deleteBinding: named('pool_delete_binding', 'DELETE FROM bindings WHERE device_id = $1'),
  entry: named('pool_entry', 'SELECT * FROM pool_entries WHERE device_id = $1'),
  insertEntry: named('pool_insert_entry', "INSERT INTO pool_entries (device_id, account, certificate_id, pooled_at, recycle_at, state) VALUES ($1, $2, $3, $4, $5, 'pooled')"),
  deleteEntry: named('pool_delete_entry', 'DELETE FROM pool_entries WHERE device_id = $1'),
  setDeregistering: named('pool_set_deregistering', "UPDATE pool_entries SET state = 'deregistering' WHERE device_id = $1"),
  entryFailed: named('pool_entry_failed', 'UPDATE pool_entries SET attempts = $1, last_error = $2 WHERE device_id = $3'),
  list: named('pool_list', 'SELECT * FROM pool_entries WHERE device_id > $1 ORDER BY device_id LIMIT $2'),
  listAccount: named('pool_list_account', 'SELECT * FROM pool_entries WHERE account = $1 AND device_id > $2 ORDER BY device_id LIMIT $3'),
  countEntries: named('pool_count_entries', 'SELECT count(*)::int AS n FROM pool_entries'),
  countDeregistering: named('pool_count_deregistering', "SELECT count(*)::int AS n FROM pool_entries WHERE state = 'deregistering'"),
  insertOutbox: named(
    'pool_insert_outbox',
    // Claimed by the node that wrote it (its outbox sends it at once); others take it over if that node dies.
    'INSERT INTO cas_outbox (op, device_id, certificate_id, idempotency_key, created_at, next_attempt_at, claimed_by, claim_until) VALUES ($1, $2, $3, $4, $5, $5, $6, $7) ON CONFLICT (idempotency_key) DO NOTHING',
  ),
  // Claimed as read: rows locked by another node's claim are skipped (SKIP LOCKED), rows it holds are not
  // claimable (claims.ts), so one CAS call per row in the whole cluster; each device's oldest row only.
  dueOutbox: named(
    'pool_due_outbox',
    `UPDATE cas_outbox SET claimed_by = $3, claim_until = $4 WHERE id IN (
       SELECT o.id FROM cas_outbox o WHERE o.next_attempt_at <= $1 AND o.id = (SELECT min(id) FROM cas_outbox WHERE device_id = o.device_id)
         AND ${claimable('o', '$3', '$1')}
       ORDER BY o.id LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
  ),
  nextOutboxAt: named('pool_next_outbox_at', 'SELECT min(next_attempt_at) AS t FROM cas_outbox'),
  // Registrations interrupted by a stop: this node's own, or a dead node's, never those a live node is making.
  registers: named('pool_registers', `SELECT * FROM cas_outbox o WHERE op = 'register' AND ${claimable('o', '$1', '$2')} ORDER BY id FOR UPDATE`),
  deleteOutbox: named('pool_delete_outbox', 'DELETE FROM cas_outbox WHERE id = $1'),
  deleteOutboxByKey: named('pool_delete_outbox_by_key', 'DELETE FROM cas_outbox WHERE idempotency_key = $1'),
  // The claim is given up: any node may send it when it is due again.
  retryOutbox: named('pool_retry_outbox', 'UPDATE cas_outbox SET attempts = $1, next_attempt_at = $2, last_error = $3, claimed_by = NULL, claim_until = NULL WHERE id = $4'),
  audit: named('pool_audit', 'INSERT INTO pool_audit (at, event, device_id, account, detail) VALUES ($1, $2, $3, $4, $5)'),
  history: named('pool_history', 'SELECT * FROM pool_audit ORDER BY id DESC LIMIT $1'),
  historyOf: named('pool_history_of', 'SELECT * FROM pool_audit WHERE device_id = $1 ORDER BY id DESC LIMIT $2'),
  // Recycling is claimed by the device's lock, the one every pool unit of work takes, tried and not waited
  // for (pg_try_advisory_xact_lock): a device another node's sweep (or a bind) holds is skipped, like SKIP
  // LOCKED, and never waited on, so a sweep cannot deadlock with a group. The claim and the work are one
  // transaction (the entry leaves 'pooled' in it), so nothing is left to take over when a node dies mid-way
  // (no claimed_by/claim_until: its transaction rolls back), and each recycle happens once in the cluster.
  // The LIMIT in the materialised candidates keeps the locks tried to the page (partial index pool_entries_recycle).
  dueRecycle: named(
    'pool_due_recycle',
    `WITH c AS MATERIALIZED (SELECT device_id FROM pool_entries WHERE state = 'pooled' AND recycle_at <= $1 ORDER BY recycle_at, device_id LIMIT $2)
     SELECT device_id, ${advisoryLockCall('pool-device', 'device_id').replace('pg_advisory_xact_lock', 'pg_try_advisory_xact_lock')} AS mine FROM c`,
  ),
  // Read again once locked, in a new snapshot: a bind that committed before the lock was taken is seen.
  entries: named('pool_entries_of', 'SELECT * FROM pool_entries WHERE device_id = ANY($1::text[]) ORDER BY recycle_at, device_id'),
  nextRecycleAt: named('pool_next_recycle_at', "SELECT min(recycle_at) AS t FROM pool_entries WHERE state = 'pooled'"),
};

type Row = Record<string, unknown>;


/**
 * The pool on PostgreSQL: the same rules as on SQLite, each unit of work one READ COMMITTED transaction under advisory locks.
 * Binds and unbinds that arrive while others commit are committed together (group commit, pg-pool-group.ts):
 * a group costs the round trips of one, whatever its size.
 */
export class PgPoolRepo implements PoolRepo {
  readonly #group: GroupCommit<PoolOp, BindOutcome | { recycleAt: number }>;

  constructor(
    private readonly pool: pg.Pool,
    /** This node: outbox rows are claimed in its name. */
    private readonly nodeId: string,
  ) {
    this.#group = new GroupCommit((ops) => this.#commitGroup(ops), { maxGroup: GROUP_MAX, key: opDevice });
  }

  bind(input: BindInput, rules: PoolRules): Promise<BindOutcome> {
    return this.#group.submit({ kind: 'bind', input, rules }) as Promise<BindOutcome>;
  }

  registered(account: string, deviceId: string, certificateId: string, key: string, now: number): Promise<void> {
    return this.#unit(async (c) => {
      await c.query(Q.lockDevice([deviceId]));
      return { writes: registeredWrites(account, deviceId, certificateId, key, now), result: undefined };
    });
  }

  registrationFailed(account: string, deviceId: string, key: string, unknownOutcome: boolean, message: string, now: number): Promise<void> {
    return this.#unit(async (c) => {
      await c.query(Q.lockDevice([deviceId]));
      return { writes: registrationFailedWrites(account, deviceId, key, unknownOutcome, message, now), result: undefined };
    });
  }

  abandonInterrupted(now: number): Promise<OutboxRow[]> {
    return this.#unit(async (c) => {
      const rows = (await c.query<Row>(Q.registers([this.nodeId, now]))).rows.map(outboxOf);
      const writes: PoolWrite[] = [];
      for (const row of rows) writes.push(...abandonedWrites(row, (await this.#binding(c, row.deviceId))?.state === 'registering', now));
      return { writes, result: rows };
    });
  }

  unbind(account: string, deviceId: string, now: number, rules: PoolRules): Promise<{ recycleAt: number }> {
    return this.#group.submit({ kind: 'unbind', account, deviceId, now, rules }) as Promise<{ recycleAt: number }>;
  }

  recycleDue(now: number, limit: number): Promise<{ queued: PoolEntry[]; more: boolean }> {
    return this.#unit(async (c) => {
      const candidates = (await c.query<Row>(Q.dueRecycle([now, limit]))).rows;
      const mine = candidates.filter((r) => r['mine'] === true).map((r) => r['device_id'] as string);
      const entries = mine.length === 0 ? [] : (await c.query<Row>(Q.entries([mine]))).rows.map(entryOf);
      const decisions = entries.map((e) => decideRecycle(e, now));
      const queued = decisions.flatMap((d) => (d.result ? [d.result] : []));
      return { writes: decisions.flatMap((d) => d.writes), result: { queued, more: candidates.length === limit } };
    });
  }
  async nextRecycleAt(): Promise<number | null> {
    const t = (await this.pool.query<Row>(Q.nextRecycleAt())).rows[0]?.['t'];
    return t === null || t === undefined ? null : Number(t);
  }

  async dueOutbox(now: number, limit: number): Promise<OutboxRow[]> {
    return (await this.pool.query<Row>(Q.dueOutbox([now, limit, this.nodeId, now + CLAIM_MS]))).rows.map(outboxOf).sort((a, b) => a.id - b.id);
  }
  async nextOutboxAt(): Promise<number | null> {
    return ((await this.pool.query<Row>(Q.nextOutboxAt())).rows[0]?.['t'] as number | null) ?? null;
  }
  outboxFailed(row: OutboxRow, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
    return this.#unit(async (c) => {
      await c.query(Q.lockDevice([row.deviceId]));
      return { writes: outboxFailedWrites(row, await this.#entry(c, row.deviceId), attempts, nextAttemptAt, error), result: undefined };
    });
  }
  outboxDone(row: OutboxRow, now: number): Promise<PoolEntry | undefined> {
    return this.#unit(async (c) => {
      await c.query(Q.lockDevice([row.deviceId]));
      return decideOutboxDone(row, await this.#entry(c, row.deviceId), now);
    });
  }

  async bindingsOf(account: string): Promise<Binding[]> {
    return (await this.pool.query<Row>(Q.bindingsOf([account]))).rows.map(bindingOf);
  }
  async list(account: string | undefined, after: string, limit: number): Promise<PoolEntry[]> {
    const q = account === undefined ? Q.list([after, limit]) : Q.listAccount([account, after, limit]);
    return (await this.pool.query<Row>(q)).rows.map(entryOf);
  }
  async history(deviceId: string | undefined, limit: number): Promise<AuditEvent[]> {
    const q = deviceId === undefined ? Q.history([limit]) : Q.historyOf([deviceId, limit]);
    return (await this.pool.query<Row>(q)).rows.map(auditOf);
  }
  async countEntries(): Promise<number> {
    return (await this.pool.query(Q.countEntries())).rows[0].n as number;
  }
  async countDeregistering(): Promise<number> {
    return (await this.pool.query(Q.countDeregistering())).rows[0].n as number;
  }

  /**
   * One transaction for the group. Should it fail for a reason other than a rule's refusal (which fails only
   * its op), each op is run again alone, so one op's trouble is not its neighbours'.
   */
  async #commitGroup(ops: readonly PoolOp[]): Promise<Settled<BindOutcome | { recycleAt: number }>[]> {
    const once = (group: readonly PoolOp[]) =>
      inTransaction(this.pool, async (c) => {
        const { outcomes, decisions } = await decideGroup(c, group);
        if (!(await writeGroup(c, decisions, this.nodeId))) for (const writes of decisions) await applyWrites(c, writes, this.nodeId);
        return outcomes;
      });
    try {
      return await once(ops);
    } catch (error) {
      if (ops.length === 1) return [{ ok: false, error }];
      const outcomes: Settled<BindOutcome | { recycleAt: number }>[] = [];
      for (const op of ops) outcomes.push(...(await once([op]).catch((e: unknown) => [{ ok: false as const, error: e }])));
      return outcomes;
    }
  }

  #unit<R>(decide: (c: pg.PoolClient) => Promise<Decision<R>>): Promise<R> {
    return inTransaction(this.pool, async (c) => {
      const d = await decide(c);
      await applyWrites(c, d.writes, this.nodeId);
      return d.result;
    });
  }

  async #binding(c: pg.PoolClient, deviceId: string): Promise<Binding | undefined> {
    const r = (await c.query<Row>(Q.binding([deviceId]))).rows[0];
    return r && bindingOf(r);
  }
  async #entry(c: pg.PoolClient, deviceId: string): Promise<PoolEntry | undefined> {
    const r = (await c.query<Row>(Q.entry([deviceId]))).rows[0];
    return r && entryOf(r);
  }
}

/** One write as its statement, and the table it changes. */
function statementOf(w: PoolWrite, nodeId: string): { readonly table: string; readonly query: pg.QueryConfig } {
  switch (w.op) {
    case 'insertBinding': {
      const b = w.binding;
      return { table: 'bindings', query: Q.insertBinding([b.deviceId, b.account, b.state, b.via, b.certificateId, b.boundAt]) };
    }
    case 'activateBinding':
      return { table: 'bindings', query: Q.activateBinding([w.certificateId, w.deviceId]) };
    case 'deleteBinding':
      return { table: 'bindings', query: Q.deleteBinding([w.deviceId]) };
    case 'insertEntry': {
      const e = w.entry;
      return { table: 'pool_entries', query: Q.insertEntry([e.deviceId, e.account, e.certificateId, e.pooledAt, e.recycleAt]) };
    }
    case 'deleteEntry':
      return { table: 'pool_entries', query: Q.deleteEntry([w.deviceId]) };
    case 'setDeregistering':
      return { table: 'pool_entries', query: Q.setDeregistering([w.deviceId]) };
    case 'entryFailed':
      return { table: 'pool_entries', query: Q.entryFailed([w.attempts, w.error, w.deviceId]) };
    case 'insertOutbox':
      return { table: 'cas_outbox', query: Q.insertOutbox([w.kind, w.deviceId, w.certificateId, w.key, w.now, nodeId, w.now + CLAIM_MS]) };
    case 'deleteOutbox':
      return { table: 'cas_outbox', query: Q.deleteOutbox([w.id]) };
    case 'deleteOutboxByKey':
      return { table: 'cas_outbox', query: Q.deleteOutboxByKey([w.key]) };
    case 'retryOutbox':
      return { table: 'cas_outbox', query: Q.retryOutbox([w.attempts, w.nextAttemptAt, w.error, w.id]) };
    case 'audit': {
      const e = w.event;
      return { table: 'pool_audit', query: Q.audit([e.at, e.event, e.deviceId, e.account, e.detail]) };
    }
  }
}

/**
 * A decision's writes in one round trip: one statement of data-modifying CTEs. Its parts run on one snapshot
 * and in no set order, which is the same as running them in order only while no two change one table (each
 * of a decision's writes of one table is to one row, and the tables' constraints are checked at the end of the
 * statement), so a decision that writes a table twice is written statement by statement.
 */
async function applyWrites(c: pg.PoolClient, writes: readonly PoolWrite[], nodeId: string): Promise<void> {
  const statements = writes.map((w) => statementOf(w, nodeId));
  if (statements.length < 2 || new Set(statements.map((s) => s.table)).size < statements.length) {
    for (const s of statements) await c.query(s.query);
    return;
  }
  const values: unknown[] = [];
  const parts = statements.map((s, i) => {
    const offset = values.length;
    values.push(...(s.query.values ?? []));
    return `w${i} AS (${s.query.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
  });
  // Named by its writes: a decision's shape is one of a few.
  await c.query({ name: shapeName('pool_writes', statements.map((s) => s.query.name ?? '')), text: `WITH ${parts.join(', ')} SELECT 1`, values });
}
