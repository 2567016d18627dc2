import type pg from 'pg';
import { named, shapeName } from '../store/postgres/pg-transaction.js';
import type { Binding, PoolEntry } from './pool-records.js';
import { type BindOutcome, type Decision, decideBind, decideUnbind, type PoolWrite } from './pool-rules.js';
import { opAccount, opDevice, type PoolOp } from './pool-op.js';
import { CLAIM_MS } from '../store/claims.js';
import type { Settled } from '../store/group-commit.js';
import { bindingOf, entryOf } from './sqlite-pool-repo.js';


type Row = Record<string, unknown>;

const Q = {
  // Every account's lock, then every device's, each list sorted: any two groups (on any node) take shared
  // locks in one order, so they never wait on each other in a cycle. A single unit of work takes the same
  // two locks in the same order (account, then device).
  lock: named('pool_group_lock', "SELECT count(pg_advisory_xact_lock(hashtextextended(k, 0))) FROM unnest($1::text[]) AS k"),
  // What each op's rule reads, after the locks, in one round trip. The counts are per account as they were
  // before the group: decide() adds what the group's own earlier decisions wrote.
  facts: named(
    'pool_group_facts',
    `SELECT EXISTS (SELECT 1 FROM devices WHERE id = u.d) AS known,
            (SELECT row_to_json(b) FROM bindings b WHERE b.device_id = u.d) AS binding,
            (SELECT row_to_json(e) FROM pool_entries e WHERE e.device_id = u.d) AS entry,
            EXISTS (SELECT 1 FROM cas_outbox WHERE device_id = u.d) AS cas_busy,
            (SELECT count(*)::int FROM bindings WHERE account = u.a) AS bound,
            (SELECT count(*)::int FROM pool_entries WHERE account = u.a) AS pooled
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(d, a, n) ORDER BY u.n`,
  ),
};

type Grouped = Exclude<PoolWrite['op'], 'activateBinding' | 'setDeregistering' | 'entryFailed' | 'deleteOutbox' | 'deleteOutboxByKey' | 'retryOutbox'>;
type WriteOf<K extends Grouped> = Extract<PoolWrite, { op: K }>;

/** Each write kind a bind or unbind makes, as one statement over arrays (one element per op), with the table it changes. */
const GROUPED: { readonly [K in Grouped]: { readonly table: string; readonly sql: string; readonly columns: (w: WriteOf<K>, nodeId: string) => unknown[] } } = {
  insertBinding: {
    table: 'bindings',
    sql: 'INSERT INTO bindings (device_id, account, state, via, certificate_id, bound_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])',
    columns: ({ binding: b }) => [b.deviceId, b.account, b.state, b.via, b.certificateId, b.boundAt],
  },
  deleteBinding: { table: 'bindings', sql: 'DELETE FROM bindings WHERE device_id = ANY($1::text[])', columns: (w) => [w.deviceId] },
  insertEntry: {
    table: 'pool_entries',
    sql: "INSERT INTO pool_entries (device_id, account, certificate_id, pooled_at, recycle_at, state) SELECT u.*, 'pooled' FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS u",
    columns: ({ entry: e }) => [e.deviceId, e.account, e.certificateId, e.pooledAt, e.recycleAt],
  },
  deleteEntry: { table: 'pool_entries', sql: 'DELETE FROM pool_entries WHERE device_id = ANY($1::text[])', columns: (w) => [w.deviceId] },
  insertOutbox: {
    table: 'cas_outbox',
    // Claimed by the node that wrote it, as pg-pool-repo.ts's single insert does.
    sql: `INSERT INTO cas_outbox (op, device_id, certificate_id, idempotency_key, created_at, next_attempt_at, claimed_by, claim_until)
            SELECT o, d, c, k, t, t, n, cu FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[]) AS u(o, d, c, k, t, n, cu)
            ON CONFLICT (idempotency_key) DO NOTHING`,
    columns: (w, nodeId) => [w.kind, w.deviceId, w.certificateId, w.key, w.now, nodeId, w.now + CLAIM_MS],
  },
  // unnest keeps the ops' order, so the audit ids do too.
  audit: {
    table: 'pool_audit',
    sql: 'INSERT INTO pool_audit (at, event, device_id, account, detail) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])',
    columns: ({ event: e }) => [e.at, e.event, e.deviceId, e.account, e.detail],
  },
};
const ORDER = Object.keys(GROUPED) as Grouped[];
const isGrouped = (op: PoolWrite['op']): op is Grouped => op in GROUPED;

/**
 * Decides a group of binds and unbinds (one op per device) in the caller's transaction: locks, one read of
 * everything the rules need, the rules in arrival order (each seeing the account counts the earlier ones
 * changed), then every write. A refused op writes nothing and does not stop the others.
 * Returns each op's outcome, and the group's writes for `write` (or, per op, for `fallback`).
 */
export async function decideGroup(c: pg.PoolClient, ops: readonly PoolOp[]): Promise<{ outcomes: Settled<BindOutcome | { recycleAt: number }>[]; decisions: PoolWrite[][] }> {
  const accounts = [...new Set(ops.map(opAccount))].sort();
  const devices = ops.map(opDevice).sort();
  await c.query(Q.lock([[...accounts.map((a) => `stbd-pool-account:${a}`), ...devices.map((d) => `stbd-pool-device:${d}`)]]));
  const rows = (await c.query<Row>(Q.facts([ops.map(opDevice), ops.map(opAccount)]))).rows;
  const bound = new Map<string, number>();
  const pooled = new Map<string, number>();
  ops.forEach((op, i) => {
    const a = opAccount(op);
    if (!bound.has(a)) bound.set(a, rows[i]!['bound'] as number);
    if (!pooled.has(a)) pooled.set(a, rows[i]!['pooled'] as number);
  });
  const add = (m: Map<string, number>, account: string | undefined, n: number) => {
    if (account !== undefined && m.has(account)) m.set(account, m.get(account)! + n);
  };
  const outcomes: Settled<BindOutcome | { recycleAt: number }>[] = [];
  const decisions: PoolWrite[][] = [];
  ops.forEach((op, i) => {
    const r = rows[i]!;
    const binding: Binding | undefined = r['binding'] ? bindingOf(r['binding'] as Row) : undefined;
    const entry: PoolEntry | undefined = r['entry'] ? entryOf(r['entry'] as Row) : undefined;
    const account = opAccount(op);
    let d: Decision<BindOutcome | { recycleAt: number }>;
    try {
      d =
        op.kind === 'bind'
          ? decideBind({ known: r['known'] === true, bound: binding, countBound: bound.get(account)!, entry, casBusy: r['cas_busy'] === true }, op.input, op.rules)
          : decideUnbind({ bound: binding, countPooled: pooled.get(account)! }, op.account, op.deviceId, op.now, op.rules);
    } catch (error) {
      outcomes.push({ ok: false, error });
      decisions.push([]);
      return;
    }
    for (const w of d.writes) {
      if (w.op === 'insertBinding') add(bound, w.binding.account, 1);
      else if (w.op === 'deleteBinding') add(bound, binding?.account, -1);
      else if (w.op === 'insertEntry') add(pooled, w.entry.account, 1);
      else if (w.op === 'deleteEntry') add(pooled, entry?.account, -1);
    }
    outcomes.push({ ok: true, value: d.result });
    decisions.push([...d.writes]);
  });
  return { outcomes, decisions };
}

/**
 * The group's writes in one statement of data-modifying CTEs, one part per kind of write, each over arrays.
 * Its parts share one snapshot and run in no set order, which is safe because no two ops of a group touch one
 * device's rows; so the only condition is that no op writes one table twice (then false: the caller writes
 * op by op). Named by its kinds: a group's shape is one of a few, each prepared once per connection.
 */
export async function writeGroup(c: pg.PoolClient, decisions: readonly PoolWrite[][], nodeId: string): Promise<boolean> {
  const byKind = new Map<Grouped, PoolWrite[]>();
  for (const writes of decisions) {
    const tables = new Set<string>();
    for (const w of writes) {
      if (!isGrouped(w.op)) return false;
      const table = GROUPED[w.op].table;
      if (tables.has(table)) return false;
      tables.add(table);
      let list = byKind.get(w.op);
      if (!list) byKind.set(w.op, (list = []));
      list.push(w);
    }
  }
  if (byKind.size === 0) return true;
  const values: unknown[] = [];
  const parts: string[] = [];
  const kinds = ORDER.filter((k) => byKind.has(k));
  for (const k of kinds) {
    const spec = GROUPED[k] as { sql: string; columns: (w: PoolWrite, nodeId: string) => unknown[] };
    const rows = byKind.get(k)!.map((w) => spec.columns(w, nodeId));
    const offset = values.length;
    for (let col = 0; col < rows[0]!.length; col++) values.push(rows.map((row) => row[col]));
    parts.push(`${k} AS (${spec.sql.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`);
  }
  await c.query({ name: shapeName('pool_group', kinds), text: `WITH ${parts.join(', ')} SELECT 1`, values });
  return true;
}
