import type { Database } from '../store/database.js';
import { GroupCommit, type Settled } from '../store/group-commit.js';
import { GROUP_MAX, opDevice, type PoolOp } from './pool-op.js';
import type { AuditEvent, Binding, OutboxRow, PoolEntry } from './pool-records.js';
import type { PoolRepo } from './pool-repo.js';
import { abandonedWrites, PoolError, type BindInput, type BindOutcome, type Decision, decideBind, decideOutboxDone, decideRecycle, decideUnbind, outboxFailedWrites, type PoolRules, type PoolWrite, registeredWrites, registrationFailedWrites } from './pool-rules.js';

type Row = Record<string, unknown>;

export const bindingOf = (r: Row): Binding => ({
  deviceId: r['device_id'] as string,
  account: r['account'] as string,
  state: r['state'] as Binding['state'],
  via: r['via'] as Binding['via'],
  certificateId: r['certificate_id'] as string | null,
  boundAt: r['bound_at'] as number,
});
export const entryOf = (r: Row): PoolEntry => ({
  deviceId: r['device_id'] as string,
  account: r['account'] as string,
  certificateId: r['certificate_id'] as string | null,
  pooledAt: r['pooled_at'] as number,
  recycleAt: r['recycle_at'] as number,
  state: r['state'] as PoolEntry['state'],
  attempts: r['attempts'] as number,
  lastError: r['last_error'] as string | null,
});
export const outboxOf = (r: Row): OutboxRow => ({
  id: r['id'] as number,
  op: r['op'] as OutboxRow['op'],
  deviceId: r['device_id'] as string,
  certificateId: r['certificate_id'] as string | null,
  idempotencyKey: r['idempotency_key'] as string,
  attempts: r['attempts'] as number,
  nextAttemptAt: r['next_attempt_at'] as number,
});
export const auditOf = (r: Row): AuditEvent => ({ at: r['at'] as number, event: r['event'] as string, deviceId: r['device_id'] as string, account: r['account'] as string | null, detail: r['detail'] as string | null });

type OpOutcome = BindOutcome | { recycleAt: number };
/** One turn of the event loop: the binds and unbinds read from the sockets in this turn join the group. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The pool on SQLite. Every unit of work is one BEGIN IMMEDIATE transaction: SQLite has one writer at a time,
 * so what a rule reads cannot change before its writes commit. Statements are prepared once.
 * Binds and unbinds that arrive together are committed in one transaction (group commit): one WAL write
 * and, with `synchronous = full`, one fsync for the group; each is answered only once its group committed.
 */
export class SqlitePoolRepo implements PoolRepo {
  readonly #db: Database;
  readonly #group: GroupCommit<PoolOp, OpOutcome>;
  readonly #s;

  constructor(db: Database) {
    this.#db = db;
    this.#group = new GroupCommit((ops) => Promise.resolve(this.#commitGroup(ops)), { maxGroup: GROUP_MAX, key: opDevice, gather: nextTurn });
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(sql);
    this.#s = {
      device: p<[string]>('SELECT 1 AS x FROM devices WHERE id = ?'),
      binding: p<[string]>('SELECT * FROM bindings WHERE device_id = ?'),
      bindingsOf: p<[string]>('SELECT * FROM bindings WHERE account = ? ORDER BY device_id'),
      countBound: p<[string]>('SELECT count(*) AS n FROM bindings WHERE account = ?'),
      insertBinding: p<[string, string, string, string, string | null, number]>('INSERT INTO bindings (device_id, account, state, via, certificate_id, bound_at) VALUES (?, ?, ?, ?, ?, ?)'),
      activateBinding: p<[string, string]>("UPDATE bindings SET state = 'active', certificate_id = ? WHERE device_id = ? AND state = 'registering'"),
      deleteBinding: p<[string]>('DELETE FROM bindings WHERE device_id = ?'),
      entry: p<[string]>('SELECT * FROM pool_entries WHERE device_id = ?'),
      countPooled: p<[string]>('SELECT count(*) AS n FROM pool_entries WHERE account = ?'),
      insertEntry: p<[string, string, string | null, number, number]>("INSERT INTO pool_entries (device_id, account, certificate_id, pooled_at, recycle_at, state) VALUES (?, ?, ?, ?, ?, 'pooled')"),
      deleteEntry: p<[string]>('DELETE FROM pool_entries WHERE device_id = ?'),
      setDeregistering: p<[string]>("UPDATE pool_entries SET state = 'deregistering' WHERE device_id = ?"),
      entryFailed: p<[number, string, string]>('UPDATE pool_entries SET attempts = ?, last_error = ? WHERE device_id = ?'),
      list: p<[string, number]>('SELECT * FROM pool_entries WHERE device_id > ? ORDER BY device_id LIMIT ?'),
      listAccount: p<[string, string, number]>('SELECT * FROM pool_entries WHERE account = ? AND device_id > ? ORDER BY device_id LIMIT ?'),
      // The partial index pool_entries_recycle (migration 18): the due entries and the next due time are index reads.
      dueRecycle: p<[number, number]>("SELECT * FROM pool_entries INDEXED BY pool_entries_recycle WHERE state = 'pooled' AND recycle_at <= ? ORDER BY recycle_at, device_id LIMIT ?"),
      nextRecycleAt: p<[]>("SELECT min(recycle_at) AS t FROM pool_entries INDEXED BY pool_entries_recycle WHERE state = 'pooled'"),
      countEntries: p<[]>('SELECT count(*) AS n FROM pool_entries'),
      countDeregistering: p<[]>("SELECT count(*) AS n FROM pool_entries INDEXED BY pool_entries_deregistering WHERE state = 'deregistering'"),
      insertOutbox: p<[string, string, string | null, string, number, number]>(
        'INSERT INTO cas_outbox (op, device_id, certificate_id, idempotency_key, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING',
      ),
      outboxPending: p<[string]>('SELECT 1 AS x FROM cas_outbox WHERE device_id = ? LIMIT 1'),
      dueOutbox: p<[number, number]>(
        `SELECT * FROM cas_outbox o WHERE o.next_attempt_at <= ? AND o.id = (SELECT min(id) FROM cas_outbox WHERE device_id = o.device_id) ORDER BY o.id LIMIT ?`,
      ),
      nextOutboxAt: p<[]>('SELECT min(next_attempt_at) AS t FROM cas_outbox'),
      registers: p<[]>("SELECT * FROM cas_outbox WHERE op = 'register' ORDER BY id"),
      deleteOutbox: p<[number]>('DELETE FROM cas_outbox WHERE id = ?'),
      deleteOutboxByKey: p<[string]>('DELETE FROM cas_outbox WHERE idempotency_key = ?'),
      retryOutbox: p<[number, number, string, number]>('UPDATE cas_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?'),
      audit: p<[number, string, string, string | null, string | null]>('INSERT INTO pool_audit (at, event, device_id, account, detail) VALUES (?, ?, ?, ?, ?)'),
      history: p<[number]>('SELECT * FROM pool_audit ORDER BY id DESC LIMIT ?'),
      historyOf: p<[string, number]>('SELECT * FROM pool_audit WHERE device_id = ? ORDER BY id DESC LIMIT ?'),
    };
  }

  bind(input: BindInput, rules: PoolRules): Promise<BindOutcome> {
    return this.#group.submit({ kind: 'bind', input, rules }) as Promise<BindOutcome>;
  }

  unbind(account: string, deviceId: string, now: number, rules: PoolRules): Promise<{ recycleAt: number }> {
    return this.#group.submit({ kind: 'unbind', account, deviceId, now, rules }) as Promise<{ recycleAt: number }>;
  }

  /** One op's reads and rule, in the group's transaction: it reads what the earlier ops of the group wrote. */
  #decide(op: PoolOp): Decision<OpOutcome> {
    if (op.kind === 'unbind') {
      const { account, deviceId, now, rules } = op;
      return decideUnbind({ bound: this.#binding(deviceId), countPooled: this.#s.countPooled.get(account)!['n'] as number }, account, deviceId, now, rules);
    }
    const { input: i, rules } = op;
    return decideBind(
      {
        known: this.#s.device.get(i.deviceId) !== undefined,
        bound: this.#binding(i.deviceId),
        countBound: this.#s.countBound.get(i.account)!['n'] as number,
        entry: this.#entry(i.deviceId),
        casBusy: this.#s.outboxPending.get(i.deviceId) !== undefined,
      },
      i,
      rules,
    );
  }

  /**
   * The group in one BEGIN IMMEDIATE transaction, its ops decided and written in arrival order. A rule's
   * refusal (thrown before its op writes anything) fails that op only; anything else (a write the database
   * refuses) rolls the group back, and each op is run again alone, so one op's trouble is not its neighbours'.
   */
  #commitGroup(ops: readonly PoolOp[]): Settled<OpOutcome>[] {
    const run = (group: readonly PoolOp[]) =>
      this.#db
        .transaction(() =>
          group.map((op): Settled<OpOutcome> => {
            let d: Decision<OpOutcome>;
            try {
              d = this.#decide(op);
            } catch (error) {
              if (error instanceof PoolError) return { ok: false, error };
              throw error;
            }
            for (const w of d.writes) this.#apply(w);
            return { ok: true, value: d.result };
          }),
        )
        .immediate();
    try {
      return run(ops);
    } catch (error) {
      if (ops.length === 1) return [{ ok: false, error }];
      return ops.map((op) => {
        try {
          return run([op])[0]!;
        } catch (e) {
          return { ok: false, error: e };
        }
      });
    }
  }

  registered(account: string, deviceId: string, certificateId: string, key: string, now: number): Promise<void> {
    return this.#unit(() => ({ writes: registeredWrites(account, deviceId, certificateId, key, now), result: undefined }));
  }

  registrationFailed(account: string, deviceId: string, key: string, unknownOutcome: boolean, message: string, now: number): Promise<void> {
    return this.#unit(() => ({ writes: registrationFailedWrites(account, deviceId, key, unknownOutcome, message, now), result: undefined }));
  }

  abandonInterrupted(now: number): Promise<OutboxRow[]> {
    return this.#unit(() => {
      const rows = this.#s.registers.all().map(outboxOf);
      return { writes: rows.flatMap((row) => abandonedWrites(row, this.#binding(row.deviceId)?.state === 'registering', now)), result: rows };
    });
  }

  /** One node: a plain due-query, decided and written in one transaction. */
  recycleDue(now: number, limit: number): Promise<{ queued: PoolEntry[]; more: boolean }> {
    return this.#unit(() => {
      const due = this.#s.dueRecycle.all(now, limit).map(entryOf);
      const decisions = due.map((e) => decideRecycle(e, now));
      const queued = decisions.flatMap((d) => (d.result ? [d.result] : []));
      return { writes: decisions.flatMap((d) => d.writes), result: { queued, more: due.length === limit } };
    });
  }
  async nextRecycleAt(): Promise<number | null> {
    return (this.#s.nextRecycleAt.get()?.['t'] as number | null) ?? null;
  }

  async dueOutbox(now: number, limit: number): Promise<OutboxRow[]> {
    return this.#s.dueOutbox.all(now, limit).map(outboxOf);
  }
  async nextOutboxAt(): Promise<number | null> {
    return (this.#s.nextOutboxAt.get()?.['t'] as number | null) ?? null;
  }
  outboxFailed(row: OutboxRow, attempts: number, nextAttemptAt: number, error: string): Promise<void> {
    return this.#unit(() => ({ writes: outboxFailedWrites(row, this.#entry(row.deviceId), attempts, nextAttemptAt, error), result: undefined }));
  }
  outboxDone(row: OutboxRow, now: number): Promise<PoolEntry | undefined> {
    return this.#unit(() => decideOutboxDone(row, this.#entry(row.deviceId), now));
  }

  async bindingsOf(account: string): Promise<Binding[]> {
    return this.#s.bindingsOf.all(account).map(bindingOf);
  }
  async list(account: string | undefined, after: string, limit: number): Promise<PoolEntry[]> {
    return (account === undefined ? this.#s.list.all(after, limit) : this.#s.listAccount.all(account, after, limit)).map(entryOf);
  }
  async history(deviceId: string | undefined, limit: number): Promise<AuditEvent[]> {
    return (deviceId === undefined ? this.#s.history.all(limit) : this.#s.historyOf.all(deviceId, limit)).map(auditOf);
  }
  async countEntries(): Promise<number> {
    return this.#s.countEntries.get()!['n'] as number;
  }
  async countDeregistering(): Promise<number> {
    return this.#s.countDeregistering.get()!['n'] as number;
  }

  /** Reads, decides and writes in one write transaction; a rule's PoolError rolls it back and rejects. */
  #unit<R>(decide: () => Decision<R>): Promise<R> {
    try {
      return Promise.resolve(
        this.#db
          .transaction(() => {
            const d = decide();
            for (const w of d.writes) this.#apply(w);
            return d.result;
          })
          .immediate(),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #binding(deviceId: string): Binding | undefined {
    const r = this.#s.binding.get(deviceId);
    return r && bindingOf(r);
  }
  #entry(deviceId: string): PoolEntry | undefined {
    const r = this.#s.entry.get(deviceId);
    return r && entryOf(r);
  }

  #apply(w: PoolWrite): void {
    const s = this.#s;
    switch (w.op) {
      case 'insertBinding': {
        const b = w.binding;
        return void s.insertBinding.run(b.deviceId, b.account, b.state, b.via, b.certificateId, b.boundAt);
      }
      case 'activateBinding':
        return void s.activateBinding.run(w.certificateId, w.deviceId);
      case 'deleteBinding':
        return void s.deleteBinding.run(w.deviceId);
      case 'insertEntry': {
        const e = w.entry;
        return void s.insertEntry.run(e.deviceId, e.account, e.certificateId, e.pooledAt, e.recycleAt);
      }
      case 'deleteEntry':
        return void s.deleteEntry.run(w.deviceId);
      case 'setDeregistering':
        return void s.setDeregistering.run(w.deviceId);
      case 'entryFailed':
        return void s.entryFailed.run(w.attempts, w.error, w.deviceId);
      case 'insertOutbox':
        return void s.insertOutbox.run(w.kind, w.deviceId, w.certificateId, w.key, w.now, w.now);
      case 'deleteOutbox':
        return void s.deleteOutbox.run(w.id);
      case 'deleteOutboxByKey':
        return void s.deleteOutboxByKey.run(w.key);
      case 'retryOutbox':
        return void s.retryOutbox.run(w.attempts, w.nextAttemptAt, w.error, w.id);
      case 'audit': {
        const e = w.event;
        return void s.audit.run(e.at, e.event, e.deviceId, e.account, e.detail);
      }
    }
  }
}
