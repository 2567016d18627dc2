import type { Sealer } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import type { DeviceRecord } from './device.js';
import { forSqlite } from '../store/sql-dialect.js';
import { type DeviceRow, DeviceSealing } from './device-rows.js';
import type { Candidate, CandidatePage, SelectionQuery, SelectionRepo } from './selection-repo.js';
import { flag, type Range, selectionStatement, WINDOW_END_SQL } from './selection-sql.js';
import { render } from './selector/sql.js';
import { numberOf, SQL_FUNCTIONS, versionKey } from './selector/version-key.js';

type Row = DeviceRow & { if_online: number; if_offline: number };

/**
 * Selections on SQLite. The selector's two SQL functions are registered on this connection (SQLite keeps
 * no functions in the file, so other readers of it never meet them: they appear in no view, index or
 * trigger), from the same code that computes the key of the operator's value.
 */
export class SqliteSelectionRepo implements SelectionRepo {
  readonly #db: Database;
  readonly #rows: DeviceSealing;
  readonly #windowEnd;

  constructor(db: Database, sealer: Sealer) {
    this.#db = db;
    this.#rows = new DeviceSealing(sealer);
    db.function(SQL_FUNCTIONS.versionKey, { deterministic: true }, (v: unknown) => (typeof v === 'string' ? versionKey(v) : null));
    db.function(SQL_FUNCTIONS.number, { deterministic: true }, (v: unknown) => (typeof v === 'string' ? numberOf(v) : null));
    this.#windowEnd = db.prepare<[string, number], { id: string }>(forSqlite(WINDOW_END_SQL));
  }

  #run(q: SelectionQuery, range: Range, records: boolean): Row[] {
    const { text, values } = render(selectionStatement(q, 'sqlite', range, records), 'sqlite');
    return this.#db.prepare<unknown[], Row>(text).all(...values);
  }

  #page(q: SelectionQuery, after: string, scan: number, records: boolean): { rows: Row[]; next: string | null } {
    const upTo = this.#windowEnd.get(after, scan - 1)?.id ?? null;
    return { rows: this.#run(q, { after, upTo }, records), next: upTo };
  }

  async candidates(q: SelectionQuery, after: string, scan: number): Promise<CandidatePage<Candidate>> {
    const { rows, next } = this.#page(q, after, scan, false);
    return { rows: rows.map(candidate), next };
  }

  async devices(q: SelectionQuery, after: string, scan: number): Promise<CandidatePage<Candidate & { record: DeviceRecord }>> {
    const { rows, next } = this.#page(q, after, scan, true);
    return { rows: rows.map((r) => ({ ...candidate(r), record: this.#rows.record(r) })), next };
  }

  async among(q: SelectionQuery, ids: readonly string[]): Promise<Candidate[]> {
    return ids.length === 0 ? [] : this.#run(q, { ids }, false).map(candidate);
  }
}

const candidate = (r: Row): Candidate => ({ id: r.id, ifOnline: flag(r.if_online), ifOffline: flag(r.if_offline) });
