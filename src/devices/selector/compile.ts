import type { CompareOp, Condition, Literal, ValueField } from './ast.js';
import { postgresLike, sqliteGlob } from './glob.js';
import { EMPTY, type Engine, join, raw, type Sql, sql } from './sql.js';
import { SQL_FUNCTIONS, versionKey } from './version-key.js';

/**
 * Compiles a condition into a boolean SQL expression over these aliases, which the statement around it
 * provides: `d` (devices), `c` (cwmp_devices, LEFT JOIN: a device that never informed has none) and `p`
 * (presence, LEFT JOIN) when `joinsOf` says they are needed. Every value is a bound parameter.
 *
 * The logic has two values, not SQL's three: a comparison with a value the store does not know (no Inform
 * yet, a parameter never read) is false, and `!=`, `NOT IN`, `NOT LIKE` are exactly NOT of `=`, `IN`,
 * `LIKE` (so true there). Text is compared byte by byte in both engines (PostgreSQL under COLLATE "C", so a
 * server's collation cannot change the answer); versions by their key (version-key.ts).
 */
export interface CompileOptions {
  readonly engine: Engine;
  /** What now() is, in ms since the epoch (the injected clock's reading). */
  readonly now: number;
  /**
   * The value `online` has in this compilation. Presence lives in memory: a statement evaluates a
   * condition that uses `online` twice, once as if the device were online and once as if not, and memory
   * picks the answer per device (selection repos). Required when `usesOnline(condition)`.
   */
  readonly online?: boolean;
  /** Extra conditions that keep a subquery on `column` (a device id) inside the statement's page (selection-sql.ts). */
  readonly window?: (column: string) => Sql;
}

/** The LEFT JOINs a condition needs besides `devices d`. */
export function joinsOf(c: Condition): { cwmp: boolean; presence: boolean } {
  const j = { cwmp: false, presence: false };
  const visit = (c: Condition): void => {
    switch (c.kind) {
      case 'and':
      case 'or':
        return c.items.forEach(visit);
      case 'not':
        return visit(c.item);
      case 'flag':
        if (c.name === 'behindNat') j.cwmp = true;
        return;
      default: {
        const f = c.field;
        if (f.kind === 'version' || (f.kind === 'text' && f.name !== 'id') || (f.kind === 'time' && f.name === 'lastInform')) j.cwmp = true;
        if (f.kind === 'time' && f.name === 'lastSeen') j.presence = true;
      }
    }
  };
  visit(c);
  return j;
}

const COLUMNS = {
  id: 'd.id',
  natId: 'c.nat_id',
  oui: 'c.oui',
  productClass: 'c.product_class',
  serialNumber: 'c.serial_number',
  lastInform: 'c.last_inform_at',
  lastSeen: 'p.last_seen',
} as const;

/** Where the Inform's DeviceInfo parameters are stored: under the device's data model root. */
const VERSION_PARAMETER = { softwareVersion: 'DeviceInfo.SoftwareVersion', hardwareVersion: 'DeviceInfo.HardwareVersion' } as const;

/** The stored text a field stands for (NULL where unknown). */
function columnOf(f: Exclude<ValueField, { kind: 'tag' }>): Sql {
  switch (f.kind) {
    case 'text':
    case 'time':
      return raw(COLUMNS[f.name]);
    case 'version':
      // A code-written constant, not a value from outside.
      return raw(`(SELECT v.value FROM device_parameters v WHERE v.device_id = d.id AND v.name = c.data_model || '${VERSION_PARAMETER[f.name]}')`);
    case 'param':
      return sql`(SELECT v.value FROM device_parameters v WHERE v.device_id = d.id AND v.name = ${f.path})`;
  }
}

const known = (predicate: Sql): Sql => sql`COALESCE(${predicate}, FALSE)`;

export function compileCondition(c: Condition, o: CompileOptions): Sql {
  switch (c.kind) {
    case 'and':
    case 'or':
      return sql`(${join(
        c.items.map((i) => compileCondition(i, o)),
        c.kind === 'and' ? ' AND ' : ' OR ',
      )})`;
    case 'not':
      return sql`(NOT ${compileCondition(c.item, o)})`;
    case 'flag':
      if (c.name === 'behindNat') return known(raw(`c.behind_nat = ${c.value ? 1 : 0}`));
      if (o.online === undefined) throw new Error('compileCondition: a condition on online needs options.online');
      return raw(o.online === c.value ? 'TRUE' : 'FALSE');
    case 'compare':
    case 'in':
    case 'like':
      return c.field.kind === 'tag' ? tagCondition(c, o) : valueCondition(c, c.field, o);
  }
}

type Leaf = Extract<Condition, { kind: 'compare' | 'in' | 'like' }>;

/** The time a literal stands for, in ms. */
const timeOf = (l: Extract<Literal, { type: 'time' }>, now: number): number => ('at' in l ? l.at : now + l.fromNow);

/** How a field's value is compared with literals of `type`: the SQL of the stored side, and the bound value of a literal. */
function sides(field: Exclude<ValueField, { kind: 'tag' }>, type: Literal['type'], o: CompileOptions): { left: Sql; value: (l: Literal) => unknown; ordered: boolean } {
  const column = columnOf(field);
  if (field.kind === 'version') {
    return { left: sql`${raw(SQL_FUNCTIONS.versionKey)}(${column})`, value: (l) => versionKey(String((l as { value: string }).value)), ordered: true };
  }
  if (type === 'number') return { left: sql`${raw(SQL_FUNCTIONS.number)}(${column})`, value: (l) => (l as { value: number }).value, ordered: false };
  if (type === 'time') return { left: column, value: (l) => timeOf(l as Extract<Literal, { type: 'time' }>, o.now), ordered: false };
  return { left: column, value: (l) => (l as { value: string }).value, ordered: true };
}

/** PostgreSQL orders text by the server's collation unless told: byte order, as SQLite's BINARY. */
const bytewise = (left: Sql, o: CompileOptions): Sql => (o.engine === 'postgres' ? sql`${left} COLLATE "C"` : left);

const like = (left: Sql, glob: string, o: CompileOptions): Sql =>
  o.engine === 'sqlite' ? sql`${left} GLOB ${sqliteGlob(glob)}` : sql`${left} LIKE ${postgresLike(glob)} ESCAPE '\\'`;

function valueCondition(c: Leaf, field: Exclude<ValueField, { kind: 'tag' }>, o: CompileOptions): Sql {
  if (c.kind === 'like') return known(like(columnOf(field), c.pattern, o));
  const type = c.kind === 'compare' ? c.value.type : (c.values[0] as Literal).type;
  const { left, value, ordered } = sides(field, type, o);
  if (c.kind === 'in') return known(sql`${left} IN (${join(c.values.map((l) => sql`${value(l)}`), ', ')})`);
  const op: CompareOp = c.op;
  return known(sql`${op === '=' || !ordered ? left : bytewise(left, o)} ${raw(op)} ${value(c.value)}`);
}

/** True when one of the device's tags satisfies the condition. */
function tagCondition(c: Leaf, o: CompileOptions): Sql {
  const text = (l: Literal) => (l as { value: string }).value;
  const test = c.kind === 'like' ? like(raw('t.tag'), c.pattern, o) : c.kind === 'in' ? sql`t.tag IN (${join(c.values.map((l) => sql`${text(l)}`), ', ')})` : sql`t.tag = ${text(c.value)}`;
  return sql`EXISTS (SELECT 1 FROM device_tags t WHERE t.device_id = d.id${o.window?.('t.device_id') ?? EMPTY} AND ${test})`;
}
