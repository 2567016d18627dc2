import type pg from 'pg';
import { sealedBytes } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import type { IntegrityVariant } from '../stun/integrity.js';
import type { SealedKeepaliveCredentials } from './device-table.js';
import type { PresenceRecord } from './presence.js';

type Loaded = [id: string, stunUsername: string, stunPassword: string, lastSeen: number | null, srcAddr: string | null, srcPort: number | null, authAt: number | null, variant: string | null, bindAddr: string | null, bindPort: number | null, changedAt: number | null, node: string | null];

/** `claim`: this node's STUN socket took the binding over from another node (the write is not fenced). */
export type PresenceBatch = readonly (readonly [deviceId: string, record: PresenceRecord, claim: boolean])[];
/** `node`: the node holding the binding (null: none claimed it, or a single node). */
type Each = (device: SealedKeepaliveCredentials, presence: PresenceRecord | null, node: string | null) => void;

/** A device as the keepalive path loads it: credentials (password sealed), presence, the node holding its binding. */
export interface LoadedDevice {
  readonly device: SealedKeepaliveCredentials;
  readonly presence: PresenceRecord | null;
  readonly node: string | null;
}

/** All the store does for the keepalive path: loading devices with their presence at start, and the batched flush. */
export interface PresenceRepo {
  /** Streams every device (its STUN password as stored: sealed) with its persisted presence (null if it never sent a keepalive). */
  loadAll(each: Each): Promise<void>;
  /** Streams the devices whose bindings `node` holds, as `loadAll` does (a cluster node loads only its own). */
  loadHeld(node: string, each: Each): Promise<void>;
  /** How many bindings `node` holds (an index-only count): what its start-up read is about to deliver, to size memory for. */
  countHeld(node: string): Promise<number>;
  /** The devices whose STUN usernames are among `usernames` (an indexed read), for keepalives from devices not in memory. */
  byStunUsernames(usernames: readonly string[]): Promise<LoadedDevice[]>;
  /**
   * Which of `ids` another node of the cluster holds and has written as seen at or after `since` (its flushes
   * write every device online at least every few minutes): online there, as far as the store knows.
   */
  seenElsewhere(ids: readonly string[], since: number): Promise<string[]>;
  /** The presence of those of `ids` whose bindings another node holds (a cluster), as that node last wrote it. */
  heldElsewhere(ids: readonly string[]): Promise<Map<string, PresenceRecord>>;
  /**
   * Writes a batch of presence records at once (one transaction; one statement on PostgreSQL, two when it claims).
   * In a cluster a row another node holds is not overwritten (fenced by its owner): their positions in `batch` are
   * returned, and this node no longer holds those bindings.
   */
  write(batch: PresenceBatch): Promise<readonly number[]>;
}

const SELECT = `SELECT d.id, d.stun_username, d.stun_password, p.last_seen, p.source_address, p.source_port, p.authenticated_at,
                p.integrity_variant, p.binding_address, p.binding_port, p.binding_changed_at, p.node
         FROM devices d LEFT JOIN presence p ON p.device_id = d.id`;

function deliver(each: Each, row: Loaded): void {
  const d = loaded(row);
  each(d.device, d.presence, d.node);
}

function loaded([id, stunUsername, stunPassword, lastSeen, srcAddr, srcPort, authAt, variant, bindAddr, bindPort, changedAt, node]: Loaded): LoadedDevice {
  const presence: PresenceRecord | null =
    lastSeen === null
      ? null
      : {
          lastSeen,
          source: srcAddr === null ? null : { address: srcAddr, port: srcPort ?? 0 },
          authenticatedAt: authAt,
          variant: variant as IntegrityVariant | null,
          binding: bindAddr === null ? null : { address: bindAddr, port: bindPort ?? 0 },
          bindingChangedAt: changedAt,
        };
  return { device: { id, stunUsername, sealedStunPassword: sealedBytes(stunPassword) }, presence, node };
}

/** Column values of a record, in the presence table's order after device_id. */
const columns = (r: PresenceRecord) => [r.lastSeen, r.source?.address ?? null, r.source?.port ?? null, r.authenticatedAt, r.variant, r.binding?.address ?? null, r.binding?.port ?? null, r.bindingChangedAt] as const;

/**
 * Rows per page of the start-up read, so no result holds every device at once. SQLite: keyset pages by device id,
 * small, as a page's rows are what each young-generation collection copies (1,000,000 devices: 10,000 rows a page
 * started in 2.87 s, 1,000 in 2.5 s). PostgreSQL: a FETCH, larger, each one a round trip.
 */
const PAGE = 1_000;
const FETCH = 10_000;

type DeviceRow = [id: string, stunUsername: string, stunPassword: string];
type PresenceRow = [deviceId: string, ...rest: unknown[]];
const NO_PRESENCE_ROW: readonly null[] = Array.from({ length: 10 }, () => null);

/** The rows of keyset pages `page(after)`, one at a time, `after` the first column of a page's last row. */
class KeysetCursor<R extends [string, ...unknown[]]> {
  #rows: R[] = [];
  #at = 0;
  #done = false;
  constructor(private readonly page: (after: string) => R[]) {}
  /** The next row, or undefined once there is none. */
  next(): R | undefined {
    if (this.#at === this.#rows.length) {
      if (this.#done) return undefined;
      const after = this.#rows.length > 0 ? this.#rows[this.#rows.length - 1]![0] : '';
      this.#rows = this.page(after);
      this.#at = 0;
      this.#done = this.#rows.length < PAGE;
      if (this.#rows.length === 0) return undefined;
    }
    return this.#rows[this.#at++];
  }
}

export class SqlitePresenceRepo implements PresenceRepo {
  readonly #db: Database;
  readonly #upsert;
  readonly #devicePage;
  readonly #presencePage;
  readonly #heldPage;
  readonly #countHeld;
  readonly #byStunUsername;

  constructor(db: Database) {
    this.#db = db;
    // Pages of all(): a row costs a third less than through iterate(), which crosses into SQLite once per row.
    this.#devicePage = db.prepare(`SELECT id, stun_username, stun_password FROM devices WHERE id > ? ORDER BY id LIMIT ${PAGE}`).raw();
    this.#presencePage = db.prepare(`
      SELECT device_id, last_seen, source_address, source_port, authenticated_at, integrity_variant, binding_address, binding_port, binding_changed_at, node
      FROM presence WHERE device_id > ? ORDER BY device_id LIMIT ${PAGE}`).raw();
    this.#heldPage = db.prepare(`${SELECT} WHERE p.node = ? AND p.device_id > ? ORDER BY p.device_id LIMIT ${PAGE}`).raw();
    this.#countHeld = db.prepare(`SELECT count(*) FROM presence WHERE node = ?`).pluck();
    this.#byStunUsername = db.prepare(`${SELECT} WHERE d.stun_username = ?`).raw();
    this.#upsert = db.prepare(`
      INSERT INTO presence (device_id, last_seen, source_address, source_port, authenticated_at, integrity_variant, binding_address, binding_port, binding_changed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET
        last_seen = excluded.last_seen, source_address = excluded.source_address, source_port = excluded.source_port,
        authenticated_at = excluded.authenticated_at, integrity_variant = excluded.integrity_variant,
        binding_address = excluded.binding_address, binding_port = excluded.binding_port, binding_changed_at = excluded.binding_changed_at`);
  }

  /**
   * Two scans in the same key order, merged, not a join: a join searched presence once per device (a third of a
   * million-device start with no presence rows, a tenth with one each). Every presence row is its device's (a
   * foreign key), so the presence scan is a subsequence of the devices scan and equal ids are all the merge needs.
   */
  async loadAll(each: Each): Promise<void> {
    const devices = new KeysetCursor((after) => this.#devicePage.all(after) as DeviceRow[]);
    const presence = new KeysetCursor((after) => this.#presencePage.all(after) as PresenceRow[]);
    let p = presence.next();
    for (let d = devices.next(); d !== undefined; d = devices.next()) {
      const mine = p !== undefined && p[0] === d[0];
      const r = mine ? p! : NO_PRESENCE_ROW;
      deliver(each, [d[0], d[1], d[2], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]] as Loaded);
      if (mine) p = presence.next();
    }
  }

  async loadHeld(node: string, each: Each): Promise<void> {
    const rows = new KeysetCursor((after) => this.#heldPage.all(node, after) as Loaded[]);
    for (let row = rows.next(); row !== undefined; row = rows.next()) deliver(each, row);
  }

  async countHeld(node: string): Promise<number> {
    return this.#countHeld.get(node) as number;
  }

  async byStunUsernames(usernames: readonly string[]): Promise<LoadedDevice[]> {
    const found: LoadedDevice[] = [];
    for (const name of usernames) {
      const row = this.#byStunUsername.get(name) as Loaded | undefined;
      if (row) found.push(loaded(row));
    }
    return found;
  }

  async heldElsewhere(): Promise<Map<string, PresenceRecord>> {
    // SQLite is one node: every binding is its own.
    return new Map();
  }

  async seenElsewhere(): Promise<string[]> {
    // One node (the file's instance lock keeps it one): no other node holds anything.
    return [];
  }

  async write(batch: PresenceBatch): Promise<readonly number[]> {
    // One node: nothing to fence (the file's instance lock keeps it one).
    this.#db.transaction(() => {
      for (const [id, r] of batch) this.#upsert.run(id, ...columns(r));
    })();
    return [];
  }
}


const PG_UPSERT = `INSERT INTO presence (device_id, last_seen, source_address, source_port, authenticated_at, integrity_variant, binding_address, binding_port, binding_changed_at, node)
             SELECT u.*, $10::text FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::bigint[], $6::text[], $7::text[], $8::int[], $9::bigint[]) AS u
             ON CONFLICT (device_id) DO UPDATE SET
               last_seen = excluded.last_seen, source_address = excluded.source_address, source_port = excluded.source_port,
               authenticated_at = excluded.authenticated_at, integrity_variant = excluded.integrity_variant,
               binding_address = excluded.binding_address, binding_port = excluded.binding_port, binding_changed_at = excluded.binding_changed_at,
               node = excluded.node`;

/** The batch's rows as the unnest arrays of PG_UPSERT. */
function arrays(batch: PresenceBatch): unknown[][] {
  const cols: unknown[][] = Array.from({ length: 9 }, () => []);
  for (const [id, r] of batch) [id, ...columns(r)].forEach((v, i) => cols[i]!.push(v));
  return cols;
}

/**
 * Presence on PostgreSQL, each row fenced by the node holding the binding: a write lands only where the row is
 * this node's (or nobody's), so a node that was partitioned or paused cannot overwrite the new owner's state; a
 * claim (this node's STUN socket accepted the device's binding keepalive) takes the row whoever held it.
 */
export class PgPresenceRepo implements PresenceRepo {
  constructor(
    private readonly pool: pg.Pool,
    private readonly nodeId: string,
  ) {}

  loadAll(each: Each): Promise<void> {
    return this.#stream(SELECT, [], each);
  }

  loadHeld(node: string, each: Each): Promise<void> {
    return this.#stream(`${SELECT} WHERE p.node = $1`, [node], each);
  }

  /**
   * One query read through a cursor, FETCH rows each (each FETCH its own statement under statement_timeout).
   * Not keyset pages: with a join, a page's plan depends on the statistics (none right after `store copy` or a bulk
   * change), and a bad one re-reads everything before the page each time: quadratic, past the statement timeout at
   * a million rows. The cursor runs the query once, whichever plan, in one snapshot.
   */
  async #stream(text: string, values: readonly unknown[], each: Each): Promise<void> {
    const client = await this.pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN READ ONLY');
      await client.query({ text: `DECLARE presence_load NO SCROLL CURSOR FOR ${text}`, values: [...values] });
      for (;;) {
        const { rows } = await client.query<Loaded>({ text: `FETCH FORWARD ${FETCH} FROM presence_load`, rowMode: 'array' });
        for (const row of rows) deliver(each, row);
        if (rows.length < FETCH) break;
      }
      await client.query('COMMIT');
    } catch (err) {
      broken = err;
      throw err;
    } finally {
      // A connection left mid-transaction is not given back to the pool: it is closed.
      client.release(broken as Error | undefined);
    }
  }

  async countHeld(node: string): Promise<number> {
    const { rows } = await this.pool.query<[string]>({ name: 'presence_count_held', text: 'SELECT count(*) FROM presence WHERE node = $1', values: [node], rowMode: 'array' });
    return Number(rows[0]![0]);
  }

  async seenElsewhere(ids: readonly string[], since: number): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<[string]>({
      name: 'presence_seen_elsewhere',
      text: 'SELECT device_id FROM presence WHERE device_id = ANY($1::text[]) AND node <> $2 AND last_seen >= $3',
      values: [ids, this.nodeId, since],
      rowMode: 'array',
    });
    return rows.map((r) => r[0]);
  }

  async heldElsewhere(ids: readonly string[]): Promise<Map<string, PresenceRecord>> {
    const held = new Map<string, PresenceRecord>();
    if (ids.length === 0) return held;
    const { rows } = await this.pool.query<Loaded>({ name: 'presence_held_elsewhere', text: `${SELECT} WHERE d.id = ANY($1::text[]) AND p.node <> $2`, values: [ids, this.nodeId], rowMode: 'array' });
    for (const row of rows) {
      const { device, presence } = loaded(row);
      if (presence) held.set(device.id, presence);
    }
    return held;
  }

  async byStunUsernames(usernames: readonly string[]): Promise<LoadedDevice[]> {
    const { rows } = await this.pool.query<Loaded>({ name: 'presence_by_stun_usernames', text: `${SELECT} WHERE d.stun_username = ANY($1::text[])`, values: [usernames], rowMode: 'array' });
    return rows.map(loaded);
  }

  async write(batch: PresenceBatch): Promise<readonly number[]> {
    if (batch.length === 0) return [];
    const claims = batch.filter(([, , claim]) => claim);
    const fenced = claims.length === 0 ? batch : batch.filter(([, , claim]) => !claim);
    // One statement per kind: the batch as arrays, unnested into rows (a statement per row would be a round trip each).
    // A claim tells the node that held the binding (its channel), so it stops sending from its socket at once.
    if (claims.length > 0) {
      await this.pool.query({
        name: 'presence_claim',
        text: `WITH held AS (SELECT p.device_id, p.node FROM presence p WHERE p.device_id = ANY($1::text[]) AND p.node <> $10 FOR UPDATE),
               claim AS (${PG_UPSERT})
               SELECT pg_notify('stbd_lost_' || node, device_id) FROM held`,
        values: [...arrays(claims), this.nodeId],
      });
    }
    if (fenced.length === 0) return [];
    // ON CONFLICT … WHERE: the fence; RETURNING names the rows written, the others belong to another node.
    const { rows } = await this.pool.query<[string]>({
      name: 'presence_write',
      text: `${PG_UPSERT} WHERE presence.node IS NULL OR presence.node = excluded.node RETURNING device_id`,
      values: [...arrays(fenced), this.nodeId],
      rowMode: 'array',
    });
    if (rows.length === fenced.length) return [];
    const written = new Set(rows.map((r) => r[0]));
    const lost: number[] = [];
    batch.forEach(([id, , claim], i) => {
      if (!claim && !written.has(id)) lost.push(i);
    });
    return lost;
  }
}
