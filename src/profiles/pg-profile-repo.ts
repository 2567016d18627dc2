import type pg from 'pg';
import { inTransaction, named } from '../store/postgres/pg-transaction.js';
import { openText, type Sealer, sealText } from '../sealed-text.js';
import type { ProfileStatus } from './profile.js';
import { countsOf, type EvaluationContext, type ProfileCounts, type ProfileRepo, SECRET_CONTEXT, type StatusRow, statusOf, type StoredProfile } from './profile-repo.js';

type ProfileRow = { name: string; source: string; revision: string; created_at: string; updated_at: string };
const profileOf = (r: ProfileRow): StoredProfile => ({ name: r.name, source: r.source, revision: r.revision, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) });
const STATUS = 'device_id, profile, revision, state, task_id, attributes_task_id, fault, updated_at';

const Q = {
  // xmax = 0: the row was inserted, not updated (ON CONFLICT keeps one row per name under concurrent adds).
  // The catalog row's update in the same statement serialises concurrent changes on that row.
  put: named(
    'profiles_put',
    `WITH p AS (INSERT INTO profiles (name, source, revision, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)
       ON CONFLICT (name) DO UPDATE SET source = excluded.source, revision = excluded.revision, updated_at = excluded.updated_at
       RETURNING (xmax <> 0) AS replaced),
     v AS (INSERT INTO profile_catalog (id, version) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET version = profile_catalog.version + 1)
     SELECT replaced FROM p`,
  ),
  remove: named('profiles_remove', 'DELETE FROM profiles WHERE name = $1'),
  removeStatuses: named('profiles_remove_statuses', 'DELETE FROM profile_status WHERE profile = $1'),
  bump: named('profiles_bump', 'INSERT INTO profile_catalog (id, version) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET version = profile_catalog.version + 1'),
  all: named('profiles_all', 'SELECT name, source, revision, created_at, updated_at FROM profiles ORDER BY name COLLATE "C"'),
  get: named('profiles_get', 'SELECT name, source, revision, created_at, updated_at FROM profiles WHERE name = $1'),
  version: named('profiles_version', 'SELECT version FROM profile_catalog WHERE id = 1'),
  // Statuses and values in one round trip: the values as a JSON object beside the status rows.
  context: named(
    'profiles_context',
    `SELECT (SELECT COALESCE(json_agg(s), '[]') FROM (SELECT ${STATUS} FROM profile_status WHERE device_id = $1) s) AS statuses,
            (SELECT COALESCE(json_object_agg(name, value), '{}') FROM device_parameters WHERE device_id = $1 AND name = ANY($2)) AS "values"`,
  ),
  setStatuses: named(
    'profiles_set_statuses',
    `INSERT INTO profile_status (${STATUS})
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::text[], $8::bigint[])
     ON CONFLICT (device_id, profile) DO UPDATE SET revision = excluded.revision, state = excluded.state, task_id = excluded.task_id,
       attributes_task_id = excluded.attributes_task_id, fault = excluded.fault, updated_at = excluded.updated_at`,
  ),
  drop: named('profiles_drop_statuses', 'DELETE FROM profile_status WHERE device_id = $1 AND profile = ANY($2)'),
  ofTask: named('profiles_of_task', `SELECT ${STATUS} FROM profile_status WHERE device_id = $1 AND (task_id = $2 OR attributes_task_id = $2)`),
  counts: named('profiles_counts', 'SELECT state, count(*) AS n FROM profile_status WHERE profile = $1 GROUP BY state'),
  faults: named('profiles_faults', `SELECT ${STATUS} FROM profile_status WHERE profile = $1 AND state = 'fault' AND device_id COLLATE "C" > $2 ORDER BY device_id COLLATE "C" LIMIT $3`),
  secret: named('profiles_secret', 'SELECT sealed FROM profile_secrets WHERE device_id = $1'),
  // ON CONFLICT DO NOTHING: two processes generating at once keep the first; both then read that one.
  addSecret: named('profiles_add_secret', 'INSERT INTO profile_secrets (device_id, sealed) SELECT $1, $2 WHERE EXISTS (SELECT 1 FROM devices WHERE id = $1) ON CONFLICT DO NOTHING'),
};

/** Profiles on PostgreSQL (hand-written SQL; each method one statement or one transaction). */
export class PgProfileRepo implements ProfileRepo {
  constructor(
    private readonly pool: pg.Pool,
    private readonly sealer: Sealer,
  ) {}

  async put(p: Omit<StoredProfile, 'createdAt' | 'updatedAt'>, at: number): Promise<boolean> {
    return (await this.pool.query<{ replaced: boolean }>(Q.put([p.name, p.source, p.revision, at]))).rows[0]?.replaced ?? false;
  }

  remove(name: string): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      const removed = ((await c.query(Q.remove([name]))).rowCount ?? 0) > 0;
      await c.query(Q.removeStatuses([name]));
      if (removed) await c.query(Q.bump());
      return removed;
    });
  }

  async all(): Promise<StoredProfile[]> {
    return (await this.pool.query<ProfileRow>(Q.all())).rows.map(profileOf);
  }

  async get(name: string): Promise<StoredProfile | undefined> {
    const r = (await this.pool.query<ProfileRow>(Q.get([name]))).rows[0];
    return r && profileOf(r);
  }

  async version(): Promise<number> {
    return Number((await this.pool.query<{ version: string }>(Q.version())).rows[0]?.version ?? 0);
  }

  async context(deviceId: string, names: readonly string[]): Promise<EvaluationContext> {
    const r = (await this.pool.query<{ statuses: StatusRow[]; values: Record<string, string> }>(Q.context([deviceId, names]))).rows[0];
    return { statuses: (r?.statuses ?? []).map(statusOf), values: new Map(Object.entries(r?.values ?? {})) };
  }

  async setStatuses(rows: readonly ProfileStatus[]): Promise<void> {
    if (rows.length === 0) return;
    const col = <T>(f: (r: ProfileStatus) => T) => rows.map(f);
    await this.pool.query(
      Q.setStatuses([
        col((r) => r.deviceId),
        col((r) => r.profile),
        col((r) => r.revision),
        col((r) => r.state),
        col((r) => r.taskId),
        col((r) => r.attributesTaskId),
        col((r) => (r.fault === null ? null : JSON.stringify(r.fault))),
        col((r) => r.updatedAt),
      ]),
    );
  }

  async dropStatuses(deviceId: string, profiles: readonly string[]): Promise<void> {
    if (profiles.length > 0) await this.pool.query(Q.drop([deviceId, profiles]));
  }

  async ofTask(deviceId: string, taskId: number): Promise<ProfileStatus[]> {
    return (await this.pool.query<StatusRow>(Q.ofTask([deviceId, taskId]))).rows.map(statusOf);
  }

  async counts(profile: string): Promise<ProfileCounts> {
    return countsOf((await this.pool.query<{ state: string; n: string }>(Q.counts([profile]))).rows);
  }

  async faults(profile: string, after: string, limit: number): Promise<ProfileStatus[]> {
    return (await this.pool.query<StatusRow>(Q.faults([profile, after, limit]))).rows.map(statusOf);
  }

  async secret(deviceId: string, generate: () => string): Promise<string> {
    const context = SECRET_CONTEXT(deviceId);
    const read = async () => (await this.pool.query<{ sealed: string }>(Q.secret([deviceId]))).rows[0]?.sealed;
    let sealed = await read();
    if (sealed === undefined) {
      await this.pool.query(Q.addSecret([deviceId, sealText(this.sealer, generate(), context)]));
      sealed = await read();
    }
    if (sealed === undefined) throw new Error(`device ${JSON.stringify(deviceId)} is not registered`);
    return openText(this.sealer, sealed, context);
  }
}
