import type { Database } from '../store/database.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import { openText, type Sealer, sealText } from '../sealed-text.js';
import type { ProfileStatus } from './profile.js';
import { countsOf, type EvaluationContext, type ProfileCounts, type ProfileRepo, SECRET_CONTEXT, type StatusRow, statusOf, type StoredProfile } from './profile-repo.js';

type ProfileRow = { name: string; source: string; revision: string; created_at: number; updated_at: number };
const profileOf = (r: ProfileRow): StoredProfile => ({ name: r.name, source: r.source, revision: r.revision, createdAt: r.created_at, updatedAt: r.updated_at });
const STATUS = 'device_id, profile, revision, state, task_id, attributes_task_id, fault, updated_at';

/** Profiles on SQLite: a change is one BEGIN IMMEDIATE transaction (with its catalog version). */
export class SqliteProfileRepo implements ProfileRepo {
  readonly #units: ImmediateUnits;
  readonly #sealer: Sealer;
  readonly #s;

  constructor(db: Database, sealer: Sealer) {
    this.#units = new ImmediateUnits(db);
    this.#sealer = sealer;
    this.#s = {
      exists: db.prepare<[string], { name: string }>('SELECT name FROM profiles WHERE name = ?'),
      put: db.prepare<[string, string, string, number, number]>(
        'INSERT INTO profiles (name, source, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET source = excluded.source, revision = excluded.revision, updated_at = excluded.updated_at',
      ),
      remove: db.prepare<[string]>('DELETE FROM profiles WHERE name = ?'),
      removeStatuses: db.prepare<[string]>('DELETE FROM profile_status WHERE profile = ?'),
      bump: db.prepare('INSERT INTO profile_catalog (id, version) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET version = profile_catalog.version + 1'),
      all: db.prepare<[], ProfileRow>('SELECT name, source, revision, created_at, updated_at FROM profiles ORDER BY name'),
      get: db.prepare<[string], ProfileRow>('SELECT name, source, revision, created_at, updated_at FROM profiles WHERE name = ?'),
      version: db.prepare<[], { version: number }>('SELECT version FROM profile_catalog WHERE id = 1'),
      statuses: db.prepare<[string], StatusRow>(`SELECT ${STATUS} FROM profile_status WHERE device_id = ?`),
      values: db.prepare<[string, string], { name: string; value: string }>('SELECT name, value FROM device_parameters WHERE device_id = ? AND name IN (SELECT value FROM json_each(?))'),
      setStatus: db.prepare<[string, string, string, string, number | null, number | null, string | null, number]>(
        `INSERT INTO profile_status (${STATUS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id, profile) DO UPDATE SET revision = excluded.revision, state = excluded.state, task_id = excluded.task_id, attributes_task_id = excluded.attributes_task_id, fault = excluded.fault, updated_at = excluded.updated_at`,
      ),
      drop: db.prepare<[string, string]>('DELETE FROM profile_status WHERE device_id = ? AND profile IN (SELECT value FROM json_each(?))'),
      ofTask: db.prepare<[string, number, number], StatusRow>(`SELECT ${STATUS} FROM profile_status WHERE device_id = ? AND (task_id = ? OR attributes_task_id = ?)`),
      counts: db.prepare<[string], { state: string; n: number }>('SELECT state, count(*) AS n FROM profile_status WHERE profile = ? GROUP BY state'),
      faults: db.prepare<[string, string, number], StatusRow>(`SELECT ${STATUS} FROM profile_status WHERE profile = ? AND state = 'fault' AND device_id > ? ORDER BY device_id LIMIT ?`),
      secret: db.prepare<[string], { sealed: string }>('SELECT sealed FROM profile_secrets WHERE device_id = ?'),
      addSecret: db.prepare<[string, string, string]>('INSERT INTO profile_secrets (device_id, sealed) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?) ON CONFLICT DO NOTHING'),
    };
  }

  put(p: Omit<StoredProfile, 'createdAt' | 'updatedAt'>, at: number): Promise<boolean> {
    return this.#units.run(() => {
      const replaced = this.#s.exists.get(p.name) !== undefined;
      this.#s.put.run(p.name, p.source, p.revision, at, at);
      this.#s.bump.run();
      return replaced;
    });
  }

  remove(name: string): Promise<boolean> {
    return this.#units.run(() => {
      const removed = this.#s.remove.run(name).changes > 0;
      this.#s.removeStatuses.run(name);
      if (removed) this.#s.bump.run();
      return removed;
    });
  }

  async all(): Promise<StoredProfile[]> {
    return this.#s.all.all().map(profileOf);
  }

  async get(name: string): Promise<StoredProfile | undefined> {
    const r = this.#s.get.get(name);
    return r && profileOf(r);
  }

  async version(): Promise<number> {
    return this.#s.version.get()?.version ?? 0;
  }

  async context(deviceId: string, names: readonly string[]): Promise<EvaluationContext> {
    const statuses = this.#s.statuses.all(deviceId).map(statusOf);
    const values = new Map(names.length === 0 ? [] : this.#s.values.all(deviceId, JSON.stringify(names)).map((r) => [r.name, r.value]));
    return { statuses, values };
  }

  setStatuses(rows: readonly ProfileStatus[]): Promise<void> {
    return this.#units.run(() => {
      for (const r of rows) this.#s.setStatus.run(r.deviceId, r.profile, r.revision, r.state, r.taskId, r.attributesTaskId, r.fault === null ? null : JSON.stringify(r.fault), r.updatedAt);
    });
  }

  async dropStatuses(deviceId: string, profiles: readonly string[]): Promise<void> {
    if (profiles.length > 0) this.#s.drop.run(deviceId, JSON.stringify(profiles));
  }

  async ofTask(deviceId: string, taskId: number): Promise<ProfileStatus[]> {
    return this.#s.ofTask.all(deviceId, taskId, taskId).map(statusOf);
  }

  async counts(profile: string): Promise<ProfileCounts> {
    return countsOf(this.#s.counts.all(profile));
  }

  async faults(profile: string, after: string, limit: number): Promise<ProfileStatus[]> {
    return this.#s.faults.all(profile, after, limit).map(statusOf);
  }

  async secret(deviceId: string, generate: () => string): Promise<string> {
    const context = SECRET_CONTEXT(deviceId);
    const found = this.#s.secret.get(deviceId);
    if (found) return openText(this.#sealer, found.sealed, context);
    this.#s.addSecret.run(deviceId, sealText(this.#sealer, generate(), context), deviceId);
    const stored = this.#s.secret.get(deviceId);
    if (!stored) throw new Error(`device ${JSON.stringify(deviceId)} is not registered`);
    return openText(this.#sealer, stored.sealed, context);
  }
}
