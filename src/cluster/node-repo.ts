/** A node of the cluster as its row says. */
export interface NodeRow {
  readonly id: string;
  readonly stunAddress: string;
  readonly incarnation: number;
  readonly startedAt: number;
  readonly heartbeatAt: number;
  readonly leaseUntil: number;
  /** Bindings its STUN socket holds, and its devices online, as of its last heartbeat. */
  readonly owned: number;
  readonly online: number;
  /** A `cluster drain` of this node: STBs to move, and moved so far (null: none). */
  readonly drainTotal: number | null;
  readonly drainDone: number | null;
}

export interface Heartbeat {
  readonly now: number;
  readonly leaseMs: number;
  readonly owned: number;
  readonly online: number;
}

/** The `nodes` table: who is in the cluster, alive until when. */
export interface NodeRepo {
  /** This node starts: its row is created or taken over, its incarnation bumped; returns the new incarnation. */
  register(id: string, stunAddress: string, beat: Heartbeat): Promise<number>;
  /** Renews the lease (and says where its STUN listener is); false when another start of this node id took the row over (a newer incarnation). */
  heartbeat(id: string, incarnation: number, stunAddress: string, beat: Heartbeat): Promise<boolean>;
  /** A clean stop: the lease ends now, so the others take its work over at once. */
  leave(id: string, incarnation: number, now: number): Promise<void>;
  list(): Promise<NodeRow[]>;
  /** Devices whose binding `nodeId` holds and that have queued tasks: the rescan after notifications may have been lost. */
  devicesToCall(nodeId: string): Promise<string[]>;
  /** How many bindings `nodeId` holds, as the store says. */
  heldCount(nodeId: string): Promise<number>;
  /** The devices whose binding `nodeId` holds, in pages by id. */
  heldBy(nodeId: string, after: string, limit: number): Promise<string[]>;
  /** Tells the other nodes (DEVICES_CHANNEL) which devices this node registered ('+id') or removed ('-id'). */
  announceDevices(from: string, changes: readonly string[]): Promise<void>;
  /** Tells the other nodes (TASKS_CHANNEL) that a task finished here: an API call waiting for it on another node answers. */
  announceTaskDone(id: number): Promise<void>;
  /** The progress of a drain of `id` (total null: none; a restart of the node ends it). */
  setDrain(id: string, total: number | null, done: number | null): Promise<void>;
}

export type NodeDbRow = { node_id: string; stun_address: string; incarnation: number; started_at: number; heartbeat_at: number; lease_until: number; owned: number; online: number; drain_total: number | null; drain_done: number | null };

export const nodeOf = (r: NodeDbRow): NodeRow => ({
  id: r.node_id,
  stunAddress: r.stun_address,
  incarnation: r.incarnation,
  startedAt: r.started_at,
  heartbeatAt: r.heartbeat_at,
  leaseUntil: r.lease_until,
  owned: r.owned,
  online: r.online,
  drainTotal: r.drain_total,
  drainDone: r.drain_done,
});

/** The statements, in PostgreSQL's placeholders (forSqlite rewrites them). */
export const NODE_SQL = {
  // A start always wins the row: a live process with the same id is refused before this (the node lock).
  register: `INSERT INTO nodes (node_id, stun_address, incarnation, started_at, heartbeat_at, lease_until, owned, online)
             VALUES ($1, $2, 1, $3, $4, $5, $6, $7)
             ON CONFLICT (node_id) DO UPDATE SET stun_address = excluded.stun_address, incarnation = nodes.incarnation + 1,
               started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, lease_until = excluded.lease_until,
               owned = excluded.owned, online = excluded.online, drain_total = NULL, drain_done = NULL
             RETURNING incarnation`,
  heartbeat: 'UPDATE nodes SET heartbeat_at = $1, lease_until = $2, owned = $3, online = $4, stun_address = $5 WHERE node_id = $6 AND incarnation = $7',
  leave: 'UPDATE nodes SET lease_until = $1 WHERE node_id = $2 AND incarnation = $3',
  list: 'SELECT * FROM nodes ORDER BY node_id',
  heldCount: 'SELECT count(*) AS n FROM presence WHERE node = $1',
  heldBy: 'SELECT device_id FROM presence WHERE node = $1 AND device_id > $2 ORDER BY device_id LIMIT $3',
  devicesToCall: "SELECT DISTINCT p.device_id FROM presence p JOIN tasks t ON t.device_id = p.device_id AND t.status = 'queued' WHERE p.node = $1",
  setDrain: 'UPDATE nodes SET drain_total = $1, drain_done = $2 WHERE node_id = $3',
};

/** Where nodes announce the devices they registered or removed: `FROM\n+id\n-id…`, at most ANNOUNCE_BYTES each. */
export const DEVICES_CHANNEL = 'stbd_devices';
export const TASKS_CHANNEL = 'stbd_tasks_done';
export const ANNOUNCE_BYTES = 7000;

/** The announcements of `changes` from node `from`, each within PostgreSQL's payload limit. */
export function announcements(from: string, changes: readonly string[]): string[] {
  const out: string[] = [];
  let current = from;
  for (const c of changes) {
    if (current.length + 1 + Buffer.byteLength(c) > ANNOUNCE_BYTES && current !== from) {
      out.push(current);
      current = from;
    }
    current += `\n${c}`;
  }
  if (current !== from) out.push(current);
  return out;
}

/** An announcement read back: who sent it, and the ids added and removed. */
export function parseAnnouncement(payload: string): { from: string; added: string[]; removed: string[] } {
  const [from = '', ...lines] = payload.split('\n');
  return { from, added: lines.filter((l) => l.startsWith('+')).map((l) => l.slice(1)), removed: lines.filter((l) => l.startsWith('-')).map((l) => l.slice(1)) };
}
