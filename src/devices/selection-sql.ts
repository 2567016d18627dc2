import { DEVICE_COLUMNS } from './device-rows.js';
import type { SelectionQuery } from './selection-repo.js';
import { usesOnline } from './selector/ast.js';
import { compileCondition, joinsOf } from './selector/compile.js';
import { EMPTY, type Engine, raw, type Sql, sql } from './selector/sql.js';

/** Which devices a statement examines: a keyset window `(after, upTo]` (upTo null: to the end), or given ids. */
export type Range = { readonly after: string; readonly upTo: string | null } | { readonly ids: readonly string[] };

const RECORD_COLUMNS = DEVICE_COLUMNS.split(', ').map((c) => `d.${c}`).join(', ');

/** The last device of the next window of `scan` devices after $1 (OFFSET $2 = scan - 1); none when fewer are left. */
export const WINDOW_END_SQL = 'SELECT id FROM devices WHERE id > $1 ORDER BY id LIMIT 1 OFFSET $2';

function rangeSql(r: Range, engine: Engine): Sql {
  if ('ids' in r) return engine === 'sqlite' ? sql`d.id IN (SELECT value FROM json_each(${JSON.stringify(r.ids)}))` : sql`d.id = ANY(${r.ids})`;
  return r.upTo === null ? sql`d.id > ${r.after}` : sql`d.id > ${r.after} AND d.id <= ${r.upTo}`;
}

/**
 * The window again, on another table's device column (implied by the join or the EXISTS: the same rows).
 * PostgreSQL misjudges how many ids a text range holds (1 or 9,000 for a window of 1,000), and where it
 * thinks the window large it hashes the whole joined table (a million rows read for each page); bounded,
 * any plan reads only the window. SQLite always probes by key: nothing to bound there.
 */
function windowOn(r: Range, engine: Engine, column: string): Sql {
  if ('ids' in r || engine === 'sqlite') return EMPTY;
  const key = raw(column);
  return r.upTo === null ? sql` AND ${key} > ${r.after}` : sql` AND ${key} > ${r.after} AND ${key} <= ${r.upTo}`;
}

/**
 * The statement of one page, the same shape on both engines: `id` (and the device's columns with
 * `records`), `if_online`, `if_offline`, in id order. A condition on `online` is compiled twice (as if
 * online, as if offline); the first counts only for devices whose persisted last keepalive could make them
 * online now, the caller's memory settles the rest.
 */
export function selectionStatement(q: SelectionQuery, engine: Engine, range: Range, records: boolean): Sql {
  const online = usesOnline(q.condition);
  const joins = joinsOf(q.condition);
  const from = sql`FROM devices d${joins.cwmp ? sql` LEFT JOIN cwmp_devices c ON c.device_id = d.id${windowOn(range, engine, 'c.device_id')}` : EMPTY}${
    joins.presence || online ? sql` LEFT JOIN presence p ON p.device_id = d.id${windowOn(range, engine, 'p.device_id')}` : EMPTY
  }`;
  const columns = raw(records ? RECORD_COLUMNS : 'd.id');
  const window = (column: string) => windowOn(range, engine, column);
  if (!online) {
    const where = compileCondition(q.condition, { engine, now: q.now, window });
    return sql`SELECT ${columns}, TRUE AS if_online, TRUE AS if_offline ${from} WHERE ${rangeSql(range, engine)} AND ${where} ORDER BY d.id`;
  }
  const ifOnline = compileCondition(q.condition, { engine, now: q.now, online: true, window });
  const ifOffline = compileCondition(q.condition, { engine, now: q.now, online: false, window });
  return sql`SELECT * FROM (SELECT ${columns}, ${ifOnline} AS if_online, ${ifOffline} AS if_offline, p.last_seen AS seen_at ${from} WHERE ${rangeSql(range, engine)}) s WHERE (s.if_online AND s.seen_at >= ${q.seenSince}) OR s.if_offline ORDER BY s.id`;
}

/** A row's flag as either engine returns it (SQLite 0/1, PostgreSQL booleans). */
export const flag = (v: unknown): boolean => v === true || v === 1;
