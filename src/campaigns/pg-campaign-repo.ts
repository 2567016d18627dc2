import type pg from 'pg';
import { inTransaction, named } from '../store/postgres/pg-transaction.js';
import type { Campaign, CampaignDevice, CampaignSpec, CampaignState, DeviceOutcome, DeviceState, StateCounts } from './campaign.js';
import type { CampaignRepo, Finished, Started } from './campaign-repo.js';
import { advanceWrite, CAMPAIGN_COLUMNS, campaignOf, type CampaignRow, countsOf, DEVICE_COLUMNS, deviceOf, fileOf } from './campaign-rows.js';
import { afterOutcome, stopReason, waveRange } from './campaign-rules.js';
import type { WaveStep } from './campaign-rules.js';
import { countPlan } from './count-buckets.js';

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;
function countArgs(id: number, lo: number, hi: number): unknown[] {
  const p = countPlan(lo, hi);
  return [id, p.bucketLo, p.bucketHi, ...p.edges.flat()];
}
const one = `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns`;
const dev = `SELECT ${DEVICE_COLUMNS} FROM campaign_devices`;

const Q = {
  create: named('campaign_create', `INSERT INTO campaigns (name, state, spec, file_id, target_version, created_at) VALUES ($1, 'draft', $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING RETURNING ${CAMPAIGN_COLUMNS}`),
  byName: named('campaign_by_name', `${one} WHERE name = $1`),
  byId: named('campaign_by_id', `${one} WHERE id = $1`),
  // The campaign's row lock: every unit of work that reads a campaign to change it or its devices takes it
  // first, so a campaign's starts (the concurrency cap) and its failures (the stop rule) are serialised.
  lock: named('campaign_lock', `${one} WHERE id = $1 FOR UPDATE`),
  list: named('campaign_list', `${one} ORDER BY id DESC LIMIT $1`),
  setState: named(
    'campaign_set_state',
    `UPDATE campaigns SET state = $1, reason = $2, started_at = COALESCE(started_at, $3), finished_at = $4, accepted_wave = CASE WHEN $5 THEN wave ELSE accepted_wave END WHERE id = $6 RETURNING ${CAMPAIGN_COLUMNS}`,
  ),
  clear: named('campaign_clear', `DELETE FROM campaign_devices WHERE campaign_id = $1 AND EXISTS (SELECT 1 FROM campaigns WHERE id = $1 AND state = 'draft')`),
  add: named('campaign_add', `INSERT INTO campaign_devices (campaign_id, device_id, seq, state) SELECT $1, d, s, 'pending' FROM unnest($2::text[], $3::bigint[]) AS u(d, s) ON CONFLICT DO NOTHING`),
  canary: named('campaign_canary', `UPDATE campaign_devices SET seq = -u.i FROM unnest($2::text[]) WITH ORDINALITY AS u(d, i) WHERE campaign_id = $1 AND device_id = u.d`),
  seal: named('campaign_seal', `UPDATE campaigns SET state = 'running', bounds = $1, total = $2, wave = 0, started_at = $3 WHERE id = $4 AND state = 'draft' RETURNING ${CAMPAIGN_COLUMNS}`),
  // SKIP LOCKED: a campaign another node is changing right now is left to it; a lease expired (its node died) is taken over.
  claim: named(
    'campaign_claim',
    `UPDATE campaigns SET lease_owner = $1, lease_until = $2 WHERE id IN (SELECT id FROM campaigns WHERE state = 'running' AND (lease_owner = $1 OR lease_until <= $3) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING ${CAMPAIGN_COLUMNS}`,
  ),
  release: named('campaign_release', `UPDATE campaigns SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1`),
  leased: named('campaign_leased', `${one} WHERE id = $1 AND state = 'running' AND lease_owner = $2 AND lease_until > $3 FOR UPDATE`),
  // The buckets wholly inside [lo, hi) from the counts the triggers keep, the ragged ends device by device.
  counts: named(
    'campaign_counts',
    `SELECT state, sum(n) AS n FROM (
       SELECT state, n FROM campaign_counts WHERE campaign_id = $1 AND bucket >= $2::bigint AND bucket < $3::bigint
       UNION ALL SELECT state, 1 FROM campaign_devices WHERE campaign_id = $1 AND seq >= $4::bigint AND seq < $5::bigint
       UNION ALL SELECT state, 1 FROM campaign_devices WHERE campaign_id = $1 AND seq >= $6::bigint AND seq < $7::bigint
     ) x GROUP BY state`,
  ),
  inProgress: named('campaign_in_progress', `SELECT count(*) AS n FROM campaign_devices WHERE campaign_id = $1 AND state = 'in-progress'`),
  pending: named('campaign_pending', `SELECT device_id, seq FROM campaign_devices WHERE campaign_id = $1 AND state = 'pending' AND seq >= $2::bigint AND seq < $3::bigint AND seq > $4::bigint ORDER BY seq LIMIT $5`),
  start: named(
    'campaign_start',
    `UPDATE campaign_devices c SET state = 'in-progress', attempts = attempts + 1, task_id = NULL, reason = NULL, verify_until = NULL, started_at = $1, finished_at = NULL
     FROM (SELECT device_id FROM campaign_devices WHERE campaign_id = $2 AND device_id = ANY($3) AND state = 'pending' ORDER BY seq LIMIT $4) s
     WHERE c.campaign_id = $2 AND c.device_id = s.device_id AND c.state = 'pending' RETURNING c.device_id, c.attempts`,
  ),
  attach: named('campaign_attach', `UPDATE campaign_devices SET task_id = $1 WHERE campaign_id = $2 AND device_id = $3 AND state = 'in-progress'`),
  unattached: named('campaign_unattached', `SELECT device_id, attempts FROM campaign_devices WHERE campaign_id = $1 AND state = 'in-progress' AND task_id IS NULL ORDER BY seq LIMIT $2`),
  advance: named('campaign_advance', `UPDATE campaigns SET state = $1, reason = $2, wave = $3, finished_at = $4 WHERE id = $5 RETURNING ${CAMPAIGN_COLUMNS}`),
  device: named('campaign_device', `${dev} WHERE campaign_id = $1 AND device_id = $2`),
  end: named('campaign_end', `UPDATE campaign_devices SET state = $1, reason = $2, verify_until = NULL, finished_at = $3 WHERE campaign_id = $4 AND device_id = $5 RETURNING ${DEVICE_COLUMNS}`),
  verifying: named('campaign_verifying', `UPDATE campaign_devices SET verify_until = $1 WHERE campaign_id = $2 AND device_id = $3 AND task_id = $4 AND state = 'in-progress' RETURNING ${DEVICE_COLUMNS}`),
  byTask: named('campaign_by_task', `${dev} WHERE task_id = $1`),
  active: named('campaign_active', `${dev} WHERE device_id = $1 AND state = 'in-progress'`),
  due: named('campaign_due', `${dev} WHERE verify_until IS NOT NULL AND verify_until <= $1 AND state = 'in-progress' ORDER BY verify_until LIMIT $2`),
  skip: named('campaign_skip', `UPDATE campaign_devices SET state = 'skipped', reason = $1, finished_at = $2 WHERE campaign_id = $3 AND device_id = ANY($4) AND state = 'pending'`),
  cancelPending: named(
    'campaign_cancel_pending',
    `UPDATE campaign_devices SET state = 'cancelled', reason = 'the campaign was cancelled', finished_at = $1
     WHERE campaign_id = $2 AND state = 'pending' AND device_id IN (SELECT device_id FROM campaign_devices WHERE campaign_id = $2 AND state = 'pending' ORDER BY seq LIMIT $3)`,
  ),
  devices: named('campaign_devices', `${dev} WHERE campaign_id = $1 AND state = $2 AND seq > $3::bigint ORDER BY seq LIMIT $4`),
  firmwareActive: named('campaign_firmware_active', `SELECT 1 FROM campaigns WHERE file_id IS NOT NULL AND state IN ('running', 'paused') LIMIT 1`),
  usingFile: named('campaign_using_file', `SELECT name FROM campaigns WHERE file_id = $1 AND state NOT IN ('done', 'cancelled') ORDER BY id LIMIT 1`),
};

/**
 * Campaigns on PostgreSQL. A campaign's row lock (FOR UPDATE) orders the units of work that read it to change
 * it; device rows move only from the state their statement names, so a device is started once per try and
 * its try ends once, whichever node records it. The driver's writes are fenced by its lease (lease_owner, lease_until).
 */
export class PgCampaignRepo implements CampaignRepo {
  constructor(private readonly pool: pg.Pool) {}

  async #row(q: pg.QueryConfig): Promise<CampaignRow | undefined> {
    return (await this.pool.query<CampaignRow>(q)).rows[0];
  }

  async create(name: string, spec: CampaignSpec, targetVersion: string | null, now: number): Promise<Campaign | undefined> {
    const r = await this.#row(Q.create([name, JSON.stringify(spec), fileOf(spec), targetVersion, now]));
    return r && campaignOf(r);
  }

  async get(name: string): Promise<Campaign | undefined> {
    const r = await this.#row(Q.byName([name]));
    return r && campaignOf(r);
  }

  async byId(id: number): Promise<Campaign | undefined> {
    const r = await this.#row(Q.byId([id]));
    return r && campaignOf(r);
  }

  async list(limit: number): Promise<Campaign[]> {
    return (await this.pool.query<CampaignRow>(Q.list([limit]))).rows.map(campaignOf);
  }

  transition(id: number, from: readonly CampaignState[], to: CampaignState, reason: string | null, now: number, acceptWave = false): Promise<Campaign | undefined> {
    return inTransaction(this.pool, async (c) => {
      const r = (await c.query<CampaignRow>(Q.lock([id]))).rows[0];
      if (!r || !from.includes(r['state'] as CampaignState)) return undefined;
      const over = to === 'done' || to === 'cancelled';
      return campaignOf((await c.query<CampaignRow>(Q.setState([to, reason, to === 'running' ? now : null, over ? now : null, acceptWave, id]))).rows[0]!);
    });
  }

  async clearTargets(id: number): Promise<void> {
    await this.pool.query(Q.clear([id]));
  }

  async addTargets(id: number, rows: readonly { deviceId: string; seq: number }[]): Promise<void> {
    await inTransaction(this.pool, async (c) => {
      if ((await c.query<CampaignRow>(Q.lock([id]))).rows[0]?.['state'] !== 'draft') return;
      await c.query(Q.add([id, rows.map((r) => r.deviceId), rows.map((r) => r.seq)]));
    });
  }

  seal(id: number, canary: readonly string[], bounds: readonly number[], total: number, now: number): Promise<Campaign | undefined> {
    return inTransaction(this.pool, async (c) => {
      if ((await c.query<CampaignRow>(Q.lock([id]))).rows[0]?.['state'] !== 'draft') return undefined;
      if (canary.length > 0) await c.query(Q.canary([id, canary]));
      return campaignOf((await c.query<CampaignRow>(Q.seal([JSON.stringify(bounds), total, now, id]))).rows[0]!);
    });
  }

  async claim(owner: string, now: number, ttlMs: number, limit: number): Promise<Campaign[]> {
    return (await this.pool.query<CampaignRow>(Q.claim([owner, now + ttlMs, now, limit]))).rows.map(campaignOf);
  }

  async release(owner: string): Promise<void> {
    await this.pool.query(Q.release([owner]));
  }

  async counts(id: number, lo = MIN, hi = MAX): Promise<StateCounts> {
    return countsOf((await this.pool.query<{ state: string; n: string }>(Q.counts(countArgs(id, lo, hi)))).rows);
  }

  async inProgress(id: number): Promise<number> {
    return Number((await this.pool.query<{ n: string }>(Q.inProgress([id]))).rows[0]!.n);
  }

  async pending(id: number, lo: number, hi: number, afterSeq: number, limit: number): Promise<{ deviceId: string; seq: number }[]> {
    return (await this.pool.query<{ device_id: string; seq: number }>(Q.pending([id, lo, hi, afterSeq, limit]))).rows.map((r) => ({ deviceId: r.device_id, seq: Number(r.seq) }));
  }

  start(id: number, owner: string, deviceIds: readonly string[], now: number): Promise<Started[]> {
    return inTransaction(this.pool, async (c) => {
      const r = (await c.query<CampaignRow>(Q.leased([id, owner, now]))).rows[0];
      if (!r) return [];
      const free = campaignOf(r).spec.concurrency - Number((await c.query<{ n: string }>(Q.inProgress([id]))).rows[0]!.n);
      if (free <= 0) return [];
      const rows = (await c.query<{ device_id: string; attempts: number }>(Q.start([now, id, deviceIds, free]))).rows;
      return rows.map((x) => ({ deviceId: x.device_id, attempt: Number(x.attempts) }));
    });
  }

  async attach(id: number, deviceId: string, taskId: number): Promise<void> {
    await this.pool.query(Q.attach([taskId, id, deviceId]));
  }

  async unattached(id: number, limit: number): Promise<Started[]> {
    return (await this.pool.query<{ device_id: string; attempts: number }>(Q.unattached([id, limit]))).rows.map((r) => ({ deviceId: r.device_id, attempt: Number(r.attempts) }));
  }

  advance(id: number, owner: string, wave: number, step: Exclude<WaveStep, { kind: 'work' }>, now: number): Promise<Campaign | undefined> {
    return inTransaction(this.pool, async (c) => {
      const r = (await c.query<CampaignRow>(Q.leased([id, owner, now]))).rows[0];
      if (!r) return undefined;
      const campaign = campaignOf(r);
      if (campaign.wave !== wave) return undefined;
      const w = advanceWrite(campaign, step, now);
      return campaignOf((await c.query<CampaignRow>(Q.advance([w.state, w.reason, w.wave, w.finishedAt, id]))).rows[0]!);
    });
  }

  finish(id: number, deviceId: string, taskId: number | null, outcome: DeviceOutcome, now: number): Promise<Finished | undefined> {
    return inTransaction(this.pool, async (c) => {
      const cr = (await c.query<CampaignRow>(Q.lock([id]))).rows[0];
      const dr = (await c.query<CampaignRow>(Q.device([id, deviceId]))).rows[0];
      if (!cr || !dr) return undefined;
      const d = deviceOf(dr);
      if (d.state !== 'in-progress' || (taskId !== null && d.taskId !== taskId)) return undefined;
      let campaign = campaignOf(cr);
      const state: DeviceState = afterOutcome(outcome, d.attempts, campaign.spec.maxAttempts);
      const reason = outcome.kind === 'succeeded' ? null : outcome.reason;
      const ended = deviceOf((await c.query<CampaignRow>(Q.end([state, reason, state === 'pending' ? null : now, id, deviceId]))).rows[0]!);
      if (state === 'failed' && campaign.state === 'running') {
        const { lo, hi } = waveRange(campaign.bounds, campaign.wave);
        if (d.seq >= lo && d.seq < hi) {
          const stop = stopReason(campaign, countsOf((await c.query<{ state: string; n: string }>(Q.counts(countArgs(id, lo, hi)))).rows));
          if (stop) campaign = campaignOf((await c.query<CampaignRow>(Q.setState(['paused', stop, null, null, false, id]))).rows[0]!);
        }
      }
      return { device: ended, state, campaign };
    });
  }

  async verifying(id: number, deviceId: string, taskId: number, until: number): Promise<CampaignDevice | undefined> {
    const r = await this.#row(Q.verifying([until, id, deviceId, taskId]));
    return r && deviceOf(r);
  }

  async byTask(taskId: number): Promise<CampaignDevice | undefined> {
    const r = await this.#row(Q.byTask([taskId]));
    return r && deviceOf(r);
  }

  async activeOf(deviceId: string): Promise<CampaignDevice[]> {
    return (await this.pool.query<CampaignRow>(Q.active([deviceId]))).rows.map(deviceOf);
  }

  async dueVerifications(now: number, limit: number): Promise<CampaignDevice[]> {
    return (await this.pool.query<CampaignRow>(Q.due([now, limit]))).rows.map(deviceOf);
  }

  async skip(id: number, deviceIds: readonly string[], reason: string, now: number): Promise<number> {
    return (await this.pool.query(Q.skip([reason, now, id, deviceIds]))).rowCount ?? 0;
  }

  async cancelPending(id: number, now: number, limit: number): Promise<number> {
    return (await this.pool.query(Q.cancelPending([now, id, limit]))).rowCount ?? 0;
  }

  async devices(id: number, state: DeviceState, afterSeq: number, limit: number): Promise<CampaignDevice[]> {
    return (await this.pool.query<CampaignRow>(Q.devices([id, state, afterSeq, limit]))).rows.map(deviceOf);
  }

  async firmwareActive(): Promise<boolean> {
    return ((await this.pool.query(Q.firmwareActive())).rowCount ?? 0) > 0;
  }

  async usingFile(fileId: string): Promise<string | undefined> {
    return (await this.pool.query<{ name: string }>(Q.usingFile([fileId]))).rows[0]?.name;
  }
}
