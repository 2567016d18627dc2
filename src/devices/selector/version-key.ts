/**
 * Version order, as SQL can compare it. `versionKey` turns a version into text whose byte order is the
 * version order: every run of digits becomes \x01, the number of digits of its length, its length and the
 * number without leading zeros, so 3.9.2 < 3.10 (9 has fewer digits than 10) and 3.010 = 3.10; everything
 * else stays as it is. A number sorts before any other character at the same place (\x01 is below every
 * character a CPE can send in XML), and a version before any longer one it starts (3.10 < 3.10.1 < 3.10-rc1).
 *
 * Why a key and not a comparison function: the operator's value is turned into its key here, once, and bound
 * as a parameter; the store only computes the key of each device's value, with a function registered in
 * SQLite (this one, through better-sqlite3) and created in PostgreSQL by migration 12 (rewritten by 20: the same rule in SQL,
 * compared under COLLATE "C" so that the server's collation cannot reorder it). test/selector.test.ts checks
 * the two give the same keys.
 */
export function versionKey(version: string): string {
  return version.replace(/[0-9]+/g, (run) => {
    const n = run.replace(/^0+/, '') || '0';
    const length = String(n.length);
    return `\x01${length.length}${length}${n}`;
  });
}

/** Text that is a plain decimal number (param('X') > 10): the same rule as PostgreSQL's stbd_number. */
const NUMBER = /^[+-]?[0-9]{1,30}([.][0-9]{1,30})?$/;

/** The number a parameter value holds, or null when it is not a plain decimal number. */
export function numberOf(value: string): number | null {
  return NUMBER.test(value) ? Number(value) : null;
}

/** The functions SQL of either engine calls (SQLite: registered on the connection; PostgreSQL: migration 12). */
export const SQL_FUNCTIONS = { versionKey: 'stbd_version_key', number: 'stbd_number' } as const;
