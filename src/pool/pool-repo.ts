import type { Database } from '../store/database.js';

export interface Binding {
  readonly deviceId: string;
  readonly account: string;
  readonly state: 'registering' | 'active';
  readonly via: 'pool' | 'cas';
  readonly certificateId: string | null;
  readonly boundAt: number;
}

export interface PoolEntry {
  readonly deviceId: string;
  readonly account: string;
  readonly certificateId: string | null;
  readonly pooledAt: number;
  readonly recycleAt: number;
  readonly state: 'pooled' | 'deregistering';
  readonly attempts: number;
  readonly lastError: string | null;
}

export interface OutboxRow {
  readonly id: number;
  readonly op: 'register' | 'deregister';
  readonly deviceId: string;
  readonly certificateId: string | null;
  readonly idempotencyKey: string;
  readonly attempts: number;
  readonly nextAttemptAt: number;
}

export interface AuditEvent {
  readonly at: number;
  readonly event: string;
  readonly deviceId: string;
  readonly account: string | null;
  readonly detail: string | null;
}

const binding = (r: Record<string, unknown>): Binding => ({
  deviceId: r['device_id'] as string,
  account: r['account'] as string,
  state: r['state'] as Binding['state'],
  via: r['via'] as Binding['via'],
  certificateId: r['certificate_id'] as string | null,
  boundAt: r['bound_at'] as number,
});
const entry = (r: Record<string, unknown>): PoolEntry => ({
  deviceId: r['device_id'] as string,
  account: r['account'] as string,
  certificateId: r['certificate_id'] as string | null,
  pooledAt: r['pooled_at'] as number,
  recycleAt: r['recycle_at'] as number,
  state: r['state'] as PoolEntry['state'],
  attempts: r['attempts'] as number,
  lastError: r['last_error'] as string | null,
});
const outbox = (r: Record<string, unknown>): OutboxRow => ({
  id: r['id'] as number,
  op: r['op'] as OutboxRow['op'],
  deviceId: r['device_id'] as string,
  certificateId: r['certificate_id'] as string | null,
  idempotencyKey: r['idempotency_key'] as string,
  attempts: r['attempts'] as number,
  nextAttemptAt: r['next_attempt_at'] as number,
});

type Row = Record<string, unknown>;

/** All SQL of binding, the pool, the CAS outbox and the audit trail. */
export class PoolRepo {
  readonly #s;

  constructor(readonly db: Database) {
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(sql);
    this.#s = {
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
      countEntries: p<[]>('SELECT count(*) AS n FROM pool_entries'),
      countDeregistering: p<[]>("SELECT count(*) AS n FROM pool_entries INDEXED BY pool_entries_deregistering WHERE state = 'deregistering'"),
      insertOutbox: p<[string, string, string | null, string, number, number]>(
        'INSERT INTO cas_outbox (op, device_id, certificate_id, idempotency_key, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING',
      ),
      outboxOf: p<[string]>('SELECT * FROM cas_outbox WHERE device_id = ? ORDER BY id'),
      dueOutbox: p<[number, number]>(
        `SELECT * FROM cas_outbox o WHERE o.next_attempt_at <= ? AND o.id = (SELECT min(id) FROM cas_outbox WHERE device_id = o.device_id) ORDER BY o.id LIMIT ?`,
      ),
      nextOutboxAt: p<[]>('SELECT min(next_attempt_at) AS t FROM cas_outbox'),
      registers: p<[]>("SELECT * FROM cas_outbox WHERE op = 'register' ORDER BY id"),
      deleteOutbox: p<[number]>('DELETE FROM cas_outbox WHERE id = ?'),
      deleteOutboxByKey: p<[string]>('DELETE FROM cas_outbox WHERE idempotency_key = ?'),
      retryOutbox: p<[number, number, string, number]>('UPDATE cas_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?'),
      audit: p<[number, string, string, string | null, string | null]>('INSERT INTO pool_audit (at, event, device_id, account, detail) VALUES (?, ?, ?, ?, ?)'),
      history: p<[number, number]>('SELECT * FROM pool_audit WHERE id < ? ORDER BY id DESC LIMIT ?'),
      historyOf: p<[string, number, number]>('SELECT * FROM pool_audit WHERE device_id = ? AND id < ? ORDER BY id DESC LIMIT ?'),
    };
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  binding(deviceId: string): Binding | undefined {
    const r = this.#s.binding.get(deviceId);
    return r && binding(r);
  }
  bindingsOf(account: string): Binding[] {
    return this.#s.bindingsOf.all(account).map(binding);
  }
  countBound(account: string): number {
    return this.#s.countBound.get(account)!['n'] as number;
  }
  insertBinding(b: Binding): void {
    this.#s.insertBinding.run(b.deviceId, b.account, b.state, b.via, b.certificateId, b.boundAt);
  }
  activateBinding(deviceId: string, certificateId: string): boolean {
    return this.#s.activateBinding.run(certificateId, deviceId).changes > 0;
  }
  deleteBinding(deviceId: string): void {
    this.#s.deleteBinding.run(deviceId);
  }

  entry(deviceId: string): PoolEntry | undefined {
    const r = this.#s.entry.get(deviceId);
    return r && entry(r);
  }
  countPooled(account: string): number {
    return this.#s.countPooled.get(account)!['n'] as number;
  }
  insertEntry(e: Pick<PoolEntry, 'deviceId' | 'account' | 'certificateId' | 'pooledAt' | 'recycleAt'>): void {
    this.#s.insertEntry.run(e.deviceId, e.account, e.certificateId, e.pooledAt, e.recycleAt);
  }
  deleteEntry(deviceId: string): void {
    this.#s.deleteEntry.run(deviceId);
  }
  setDeregistering(deviceId: string): void {
    this.#s.setDeregistering.run(deviceId);
  }
  entryFailed(deviceId: string, attempts: number, error: string): void {
    this.#s.entryFailed.run(attempts, error, deviceId);
  }
  list(account: string | undefined, after: string, limit: number): PoolEntry[] {
    return (account === undefined ? this.#s.list.all(after, limit) : this.#s.listAccount.all(account, after, limit)).map(entry);
  }
  countEntries(): number {
    return this.#s.countEntries.get()!['n'] as number;
  }
  countDeregistering(): number {
    return this.#s.countDeregistering.get()!['n'] as number;
  }

  /** Queues a CAS call; a key already queued is not queued twice. */
  insertOutbox(op: OutboxRow['op'], deviceId: string, certificateId: string | null, key: string, now: number): void {
    this.#s.insertOutbox.run(op, deviceId, certificateId, key, now, now);
  }
  outboxOf(deviceId: string): OutboxRow[] {
    return this.#s.outboxOf.all(deviceId).map(outbox);
  }
  /** The oldest row of each device whose turn has come: one call per device at a time, in order. */
  dueOutbox(now: number, limit: number): OutboxRow[] {
    return this.#s.dueOutbox.all(now, limit).map(outbox);
  }
  nextOutboxAt(): number | null {
    return (this.#s.nextOutboxAt.get()?.['t'] as number | null) ?? null;
  }
  registers(): OutboxRow[] {
    return this.#s.registers.all().map(outbox);
  }
  deleteOutbox(id: number): void {
    this.#s.deleteOutbox.run(id);
  }
  deleteOutboxByKey(key: string): void {
    this.#s.deleteOutboxByKey.run(key);
  }
  retryOutbox(id: number, attempts: number, nextAttemptAt: number, error: string): void {
    this.#s.retryOutbox.run(attempts, nextAttemptAt, error, id);
  }

  audit(e: AuditEvent): void {
    this.#s.audit.run(e.at, e.event, e.deviceId, e.account, e.detail);
  }
  history(deviceId: string | undefined, limit: number): AuditEvent[] {
    const rows = deviceId === undefined ? this.#s.history.all(Number.MAX_SAFE_INTEGER, limit) : this.#s.historyOf.all(deviceId, Number.MAX_SAFE_INTEGER, limit);
    return rows.map((r) => ({ at: r['at'] as number, event: r['event'] as string, deviceId: r['device_id'] as string, account: r['account'] as string | null, detail: r['detail'] as string | null }));
  }
}
