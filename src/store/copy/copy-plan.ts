import type { Row } from './row-checksum.js';

/** A table as the copy sees it, read from the engine's catalogue. */
export interface TableLayout {
  readonly name: string;
  /** In the engine's column order. */
  readonly columns: readonly string[];
  /** In key order; the copy pages through the table by it. */
  readonly primaryKey: readonly string[];
  /** The tables its foreign keys point to. */
  readonly references: readonly string[];
}

/**
 * What differs between the two stores' tables, or undefined when they have the same tables with the same
 * columns and primary keys (the engines may list columns in different orders).
 */
export function layoutDifference(source: readonly TableLayout[], target: readonly TableLayout[]): string | undefined {
  const byName = new Map(target.map((t) => [t.name, t]));
  for (const s of source) {
    const t = byName.get(s.name);
    if (!t) return `table ${s.name} is missing in the target`;
    const sc = [...s.columns].sort();
    const tc = [...t.columns].sort();
    if (sc.join(',') !== tc.join(',')) return `table ${s.name} has columns (${sc.join(', ')}) in the source, (${tc.join(', ')}) in the target`;
    if (s.primaryKey.join(',') !== t.primaryKey.join(',')) return `table ${s.name} has primary key (${s.primaryKey.join(', ')}) in the source, (${t.primaryKey.join(', ')}) in the target`;
    byName.delete(s.name);
  }
  const extra = [...byName.keys()][0];
  return extra === undefined ? undefined : `table ${extra} is missing in the source`;
}

/**
 * The tables in an order that inserts every referenced row before the rows pointing to it (foreign keys
 * are checked as rows go in), by name where there is a choice, so both directions copy in the same order.
 */
export function copyOrder(tables: readonly TableLayout[]): TableLayout[] {
  const pending = new Map(tables.map((t) => [t.name, t]));
  const order: TableLayout[] = [];
  while (pending.size > 0) {
    const ready = [...pending.values()]
      .filter((t) => t.references.every((r) => r === t.name || !pending.has(r)))
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    if (ready.length === 0) throw new Error(`store copy: the foreign keys of ${[...pending.keys()].join(', ')} form a cycle`);
    for (const t of ready) {
      pending.delete(t.name);
      order.push(t);
    }
  }
  return order;
}

/** The primary-key values of a row, for the next page's "after this key". */
export function keyOf(table: TableLayout, row: Row): Row {
  return table.primaryKey.map((k) => row[table.columns.indexOf(k)]);
}
