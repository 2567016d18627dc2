import type { Database } from '../store/database.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import { currentTags, groupTags, type TagRepo } from './tag-repo.js';
import { planTagChange, type TagPlan } from './tag-rules.js';

type TagRow = { device_id: string; tag: string };

/** Device tags on SQLite: a change is one BEGIN IMMEDIATE transaction (the one writer reads what it changes). */
export class SqliteTagRepo implements TagRepo {
  readonly #units: ImmediateUnits;
  readonly #s;

  constructor(db: Database) {
    this.#units = new ImmediateUnits(db);
    // A page of ids is one JSON array parameter (no statement per page size).
    this.#s = {
      existing: db.prepare<[string], { id: string }>('SELECT id FROM devices WHERE id IN (SELECT value FROM json_each(?))'),
      tags: db.prepare<[string], TagRow>('SELECT device_id, tag FROM device_tags WHERE device_id IN (SELECT value FROM json_each(?))'),
      add: db.prepare<[string, string, number]>('INSERT INTO device_tags (device_id, tag, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
      remove: db.prepare<[string, string]>('DELETE FROM device_tags WHERE device_id = ? AND tag = ?'),
    };
  }

  change(devices: readonly string[], add: readonly string[], remove: readonly string[], maxPerDevice: number, at: number): Promise<TagPlan[]> {
    return this.#units.run(() => {
      const ids = JSON.stringify(devices);
      const current = currentTags(
        this.#s.existing.all(ids).map((r) => r.id),
        this.#s.tags.all(ids),
      );
      const plans = planTagChange(devices, current, add, remove, maxPerDevice);
      for (const p of plans) {
        if (p.kind !== 'change') continue;
        for (const t of p.removed) this.#s.remove.run(p.device, t);
        for (const t of p.added) this.#s.add.run(p.device, t, at);
      }
      return plans;
    });
  }

  async of(devices: readonly string[]): Promise<Map<string, string[]>> {
    return devices.length === 0 ? new Map() : groupTags(this.#s.tags.all(JSON.stringify(devices)));
  }
}
