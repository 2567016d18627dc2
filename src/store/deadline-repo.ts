import type pg from 'pg';
import type { Database } from './database.js';
import { named } from './postgres/pg-transaction.js';
import { forSqlite } from './sql-dialect.js';
import { CLAIM_MS, claimable } from './claims.js';

/** Mirrors timer/scheduler.ts's Deadline (store/ does not import features; the daemon checks they match). */
interface Deadline {
  readonly kind: string;
  readonly key: string;
  readonly dueAt: number;
}
type Row = { kind: string; key: string; due_at: number };
const toDeadline = (r: Row): Deadline => ({ kind: r.kind, key: r.key, dueAt: r.due_at });
type Summary = { count: number; earliestDueAt: number | undefined };
/** What a claim found: the deadline is this node's to fire, gone (fired or moved by someone), or held by another node until about then. */
type Claim = { readonly kind: 'claimed' } | { readonly kind: 'gone' } | { readonly kind: 'held' };

/** The deadline statements, for features that write their deadlines in their own units of work too. */
export const DEADLINE_SQL = {
  put: 'INSERT INTO timer_deadlines (kind, key, due_at) VALUES ($1, $2, $3) ON CONFLICT (kind, key) DO UPDATE SET due_at = excluded.due_at, claimed_by = NULL, claim_until = NULL',
  deleteIfDue: 'DELETE FROM timer_deadlines WHERE kind = $1 AND key = $2 AND due_at = $3',
  delete: 'DELETE FROM timer_deadlines WHERE kind = $1 AND key = $2',
  first: 'SELECT kind, key, due_at FROM timer_deadlines WHERE due_at < $1 ORDER BY due_at, kind, key LIMIT $2',
  next: 'SELECT kind, key, due_at FROM timer_deadlines WHERE due_at < $1 AND (due_at, kind, key) > ($2, $3, $4) ORDER BY due_at, kind, key LIMIT $5',
  summary: 'SELECT count(*) AS n, min(due_at) AS earliest FROM timer_deadlines',
};

/**
 * Durable deadlines of the Scheduler in the timer_deadlines table, on SQLite: its DeadlineStore, and the
 * synchronous writer of `set`/`clear` for features whose SQLite transactions they join.
 */
export class DeadlineRepo {
  readonly #put;
  readonly #deleteIfDue;
  readonly #delete;
  readonly #first;
  readonly #next;
  readonly #summary;

  constructor(db: Database) {
    const p = (sql: string) => db.prepare(forSqlite(sql));
    this.#put = p(DEADLINE_SQL.put);
    this.#deleteIfDue = p(DEADLINE_SQL.deleteIfDue);
    this.#delete = p(DEADLINE_SQL.delete);
    this.#first = db.prepare<[number, number], Row>(forSqlite(DEADLINE_SQL.first));
    this.#next = db.prepare<[number, number, string, string, number], Row>(forSqlite(DEADLINE_SQL.next));
    this.#summary = db.prepare<[], { n: number; earliest: number | null }>(DEADLINE_SQL.summary);
  }

  put(d: Deadline): void {
    this.#put.run(d.kind, d.key, d.dueAt);
  }

  delete(kind: string, key: string): void {
    this.#delete.run(kind, key);
  }

  async deleteIfDue(d: Deadline): Promise<void> {
    this.#deleteIfDue.run(d.kind, d.key, d.dueAt);
  }

  async dueBefore(time: number, limit: number, after?: Deadline): Promise<Deadline[]> {
    const rows = after ? this.#next.all(time, after.dueAt, after.kind, after.key, limit) : this.#first.all(time, limit);
    return rows.map(toDeadline);
  }

  async summary(): Promise<Summary> {
    const r = this.#summary.get()!;
    return { count: r.n, earliestDueAt: r.earliest ?? undefined };
  }
}

const Q = {
  deleteIfDue: named('deadline_delete_if_due', DEADLINE_SQL.deleteIfDue),
  first: named('deadline_first', DEADLINE_SQL.first),
  next: named('deadline_next', DEADLINE_SQL.next),
  summary: named('deadline_summary', DEADLINE_SQL.summary),
  // The row lock of the UPDATE makes two nodes' claims go one after the other, and the second finds the first's
  // claim (READ COMMITTED evaluates the WHERE again on the locked row): each deadline fires on one node.
  claim: named(
    'deadline_claim',
    `UPDATE timer_deadlines t SET claimed_by = $4, claim_until = $5
      WHERE t.kind = $1 AND t.key = $2 AND t.due_at = $3 AND ${claimable('t', '$4', '$6')} RETURNING 1`,
  ),
  exists: named('deadline_exists', 'SELECT 1 FROM timer_deadlines WHERE kind = $1 AND key = $2 AND due_at = $3'),
};

/**
 * The Scheduler's DeadlineStore on PostgreSQL. Deadlines are written by the features' own units of work; in a
 * cluster each is claimed by the node that fires it (claims.ts).
 */
export class PgDeadlineRepo {
  constructor(
    private readonly pool: pg.Pool,
    private readonly nodeId: string,
  ) {}

  async claim(d: Deadline, now: number): Promise<Claim> {
    if (((await this.pool.query(Q.claim([d.kind, d.key, d.dueAt, this.nodeId, now + CLAIM_MS, now]))).rowCount ?? 0) === 1) return { kind: 'claimed' };
    return ((await this.pool.query(Q.exists([d.kind, d.key, d.dueAt]))).rowCount ?? 0) === 1 ? { kind: 'held' } : { kind: 'gone' };
  }

  async deleteIfDue(d: Deadline): Promise<void> {
    await this.pool.query(Q.deleteIfDue([d.kind, d.key, d.dueAt]));
  }

  async dueBefore(time: number, limit: number, after?: Deadline): Promise<Deadline[]> {
    const q = after ? Q.next([time, after.dueAt, after.kind, after.key, limit]) : Q.first([time, limit]);
    return (await this.pool.query<Row>(q)).rows.map(toDeadline);
  }

  async summary(): Promise<Summary> {
    const r = (await this.pool.query<{ n: number; earliest: number | null }>(Q.summary())).rows[0]!;
    return { count: r.n, earliestDueAt: r.earliest ?? undefined };
  }
}
