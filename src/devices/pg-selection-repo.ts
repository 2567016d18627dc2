import type pg from 'pg';
import type { Sealer } from '../sealed-text.js';
import { named } from '../store/postgres/pg-transaction.js';
import type { DeviceRecord } from './device.js';
import { type DeviceRow, DeviceSealing } from './device-rows.js';
import type { Candidate, CandidatePage, SelectionQuery, SelectionRepo } from './selection-repo.js';
import { flag, type Range, selectionStatement, WINDOW_END_SQL } from './selection-sql.js';
import { render } from './selector/sql.js';

type Row = DeviceRow & { if_online: boolean; if_offline: boolean };

const windowEnd = named('selection_window_end', WINDOW_END_SQL);

/**
 * Selections on PostgreSQL: stbd_version_key (PL/pgSQL, migration 20) and stbd_number (an SQL function the
 * planner may inline, migration 12) are IMMUTABLE functions in the database. A selector's statement differs
 * with each selector, so it is not a named (prepared) one.
 */
export class PgSelectionRepo implements SelectionRepo {
  readonly #rows: DeviceSealing;

  constructor(
    private readonly pool: pg.Pool,
    sealer: Sealer,
  ) {
    this.#rows = new DeviceSealing(sealer);
  }

  async #run(q: SelectionQuery, range: Range, records: boolean): Promise<Row[]> {
    const { text, values } = render(selectionStatement(q, 'postgres', range, records), 'postgres');
    return (await this.pool.query<Row>(text, values)).rows;
  }

  async #page(q: SelectionQuery, after: string, scan: number, records: boolean): Promise<{ rows: Row[]; next: string | null }> {
    const upTo = (await this.pool.query<{ id: string }>(windowEnd([after, scan - 1]))).rows[0]?.id ?? null;
    return { rows: await this.#run(q, { after, upTo }, records), next: upTo };
  }

  async candidates(q: SelectionQuery, after: string, scan: number): Promise<CandidatePage<Candidate>> {
    const { rows, next } = await this.#page(q, after, scan, false);
    return { rows: rows.map(candidate), next };
  }

  async devices(q: SelectionQuery, after: string, scan: number): Promise<CandidatePage<Candidate & { record: DeviceRecord }>> {
    const { rows, next } = await this.#page(q, after, scan, true);
    return { rows: rows.map((r) => ({ ...candidate(r), record: this.#rows.record(r) })), next };
  }

  async among(q: SelectionQuery, ids: readonly string[]): Promise<Candidate[]> {
    return ids.length === 0 ? [] : (await this.#run(q, { ids }, false)).map(candidate);
  }
}

const candidate = (r: Row): Candidate => ({ id: r.id, ifOnline: flag(r.if_online), ifOffline: flag(r.if_offline) });
