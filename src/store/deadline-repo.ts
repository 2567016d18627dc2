import type { Database } from './database.js';

/** Mirrors timer/scheduler.ts's Deadline (store/ does not import features; the daemon checks they match). */
interface Deadline {
  readonly kind: string;
  readonly key: string;
  readonly dueAt: number;
}
type Row = { kind: string; key: string; due_at: number };
const toDeadline = (r: Row): Deadline => ({ kind: r.kind, key: r.key, dueAt: r.due_at });

/** Durable deadlines of the Scheduler (its DeadlineStore), in the timer_deadlines table. */
export class DeadlineRepo {
  readonly #put;
  readonly #deleteIfDue;
  readonly #delete;
  readonly #first;
  readonly #next;
  readonly #summary;

  constructor(db: Database) {
    this.#put = db.prepare('INSERT INTO timer_deadlines (kind, key, due_at) VALUES (?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET due_at = excluded.due_at');
    this.#deleteIfDue = db.prepare('DELETE FROM timer_deadlines WHERE kind = ? AND key = ? AND due_at = ?');
    this.#delete = db.prepare('DELETE FROM timer_deadlines WHERE kind = ? AND key = ?');
    this.#first = db.prepare<[number, number], Row>('SELECT kind, key, due_at FROM timer_deadlines WHERE due_at < ? ORDER BY due_at, kind, key LIMIT ?');
    this.#summary = db.prepare<[], { n: number; earliest: number | null }>('SELECT count(*) AS n, min(due_at) AS earliest FROM timer_deadlines');
    this.#next = db.prepare<[number, number, string, string, number], Row>(
      'SELECT kind, key, due_at FROM timer_deadlines WHERE due_at < ? AND (due_at, kind, key) > (?, ?, ?) ORDER BY due_at, kind, key LIMIT ?',
    );
  }

  put(d: Deadline): void {
    this.#put.run(d.kind, d.key, d.dueAt);
  }

  deleteIfDue(d: Deadline): void {
    this.#deleteIfDue.run(d.kind, d.key, d.dueAt);
  }

  delete(kind: string, key: string): void {
    this.#delete.run(kind, key);
  }

  dueBefore(time: number, limit: number, after?: Deadline): Deadline[] {
    const rows = after ? this.#next.all(time, after.dueAt, after.kind, after.key, limit) : this.#first.all(time, limit);
    return rows.map(toDeadline);
  }

  summary(): { count: number; earliestDueAt: number | undefined } {
    const r = this.#summary.get()!;
    return { count: r.n, earliestDueAt: r.earliest ?? undefined };
  }
}
