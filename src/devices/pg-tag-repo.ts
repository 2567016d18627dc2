import type pg from 'pg';
import { inTransaction, named } from '../store/postgres/pg-transaction.js';
import { currentTags, groupTags, type TagRepo } from './tag-repo.js';
import { planTagChange, type TagPlan } from './tag-rules.js';

type TagRow = { device_id: string; tag: string };

const Q = {
  // Row locks on the devices, in id order (two changes of overlapping pages cannot deadlock): a concurrent
  // change of the same device waits, then reads what this one wrote, so the per-device cap holds. NO KEY
  // UPDATE: inserts into device_tags (whose foreign key takes KEY SHARE) are not blocked by it.
  lock: named('tags_lock_devices', 'SELECT id FROM devices WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE'),
  tags: named('tags_of', 'SELECT device_id, tag FROM device_tags WHERE device_id = ANY($1)'),
  add: named('tags_add', 'INSERT INTO device_tags (device_id, tag, added_at) SELECT d, t, $3 FROM unnest($1::text[], $2::text[]) AS u(d, t) ON CONFLICT DO NOTHING'),
  remove: named('tags_remove', 'DELETE FROM device_tags WHERE (device_id, tag) IN (SELECT d, t FROM unnest($1::text[], $2::text[]) AS u(d, t))'),
};

/** Device tags on PostgreSQL: a change is one transaction of four statements, whatever the page size. */
export class PgTagRepo implements TagRepo {
  constructor(private readonly pool: pg.Pool) {}

  change(devices: readonly string[], add: readonly string[], remove: readonly string[], maxPerDevice: number, at: number): Promise<TagPlan[]> {
    return inTransaction(this.pool, async (c) => {
      const existing = (await c.query<{ id: string }>(Q.lock([devices]))).rows.map((r) => r.id);
      const current = currentTags(existing, (await c.query<TagRow>(Q.tags([devices]))).rows);
      const plans = planTagChange(devices, current, add, remove, maxPerDevice);
      const pairs = (pick: (p: Extract<TagPlan, { kind: 'change' }>) => readonly string[]) => {
        const ds: string[] = [];
        const ts: string[] = [];
        for (const p of plans) if (p.kind === 'change') for (const t of pick(p)) ds.push(p.device), ts.push(t);
        return [ds, ts] as const;
      };
      const removed = pairs((p) => p.removed);
      if (removed[0].length > 0) await c.query(Q.remove([...removed]));
      const added = pairs((p) => p.added);
      if (added[0].length > 0) await c.query(Q.add([...added, at]));
      return plans;
    });
  }

  async of(devices: readonly string[]): Promise<Map<string, string[]>> {
    return devices.length === 0 ? new Map() : groupTags((await this.pool.query<TagRow>(Q.tags([devices]))).rows);
  }
}
