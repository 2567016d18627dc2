import type { Database } from '../store/database.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import type { Campaign, CampaignDevice, CampaignSpec, CampaignState, DeviceOutcome, DeviceState, StateCounts } from './campaign.js';
import type { CampaignRepo, Finished, Started } from './campaign-repo.js';
import { advanceWrite, CAMPAIGN_COLUMNS, campaignOf, type CampaignRow, countsOf, DEVICE_COLUMNS, deviceOf, fileOf } from './campaign-rows.js';
import { afterOutcome, stopReason, waveRange } from './campaign-rules.js';
import type { WaveStep } from './campaign-rules.js';
import { countPlan } from './count-buckets.js';

const MIN = Number.MIN_SAFE_INTEGER;
const MAX = Number.MAX_SAFE_INTEGER;

interface CountParams {
  id: number;
  bucketLo: number;
  bucketHi: number;
  lo1: number;
  hi1: number;
  lo2: number;
  hi2: number;
}

function countParams(id: number, lo: number, hi: number): CountParams {
  const p = countPlan(lo, hi);
  const [[lo1, hi1], [lo2, hi2]] = p.edges;
  return { id, bucketLo: p.bucketLo, bucketHi: p.bucketHi, lo1, hi1, lo2, hi2 };
}

/** Campaigns on SQLite: each unit of work is one BEGIN IMMEDIATE transaction (the one writer); one node drives all. */
export class SqliteCampaignRepo implements CampaignRepo {
  readonly #units: ImmediateUnits;
  readonly #s;

  constructor(db: Database) {
    this.#units = new ImmediateUnits(db);
    const one = `SELECT ${CAMPAIGN_COLUMNS} FROM campaigns`;
    const dev = `SELECT ${DEVICE_COLUMNS} FROM campaign_devices`;
    this.#s = {
      create: db.prepare<[string, string, string, string | null, string | null, number]>(
        `INSERT INTO campaigns (name, state, spec, file_id, target_version, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING RETURNING ${CAMPAIGN_COLUMNS}`,
      ),
      byName: db.prepare<[string], CampaignRow>(`${one} WHERE name = ?`),
      byId: db.prepare<[number], CampaignRow>(`${one} WHERE id = ?`),
      list: db.prepare<[number], CampaignRow>(`${one} ORDER BY id DESC LIMIT ?`),
      setState: db.prepare<[string, string | null, number | null, number | null, number, number]>(
        `UPDATE campaigns SET state = ?, reason = ?, started_at = COALESCE(started_at, ?), finished_at = ?, accepted_wave = CASE WHEN ? = 1 THEN wave ELSE accepted_wave END WHERE id = ? RETURNING ${CAMPAIGN_COLUMNS}`,
      ),
      clear: db.prepare<[number]>(`DELETE FROM campaign_devices WHERE campaign_id = ? AND EXISTS (SELECT 1 FROM campaigns WHERE id = campaign_id AND state = 'draft')`),
      add: db.prepare<[number, string, number]>(`INSERT INTO campaign_devices (campaign_id, device_id, seq, state) VALUES (?, ?, ?, 'pending') ON CONFLICT DO NOTHING`),
      canary: db.prepare<[number, number, string]>(`UPDATE campaign_devices SET seq = ? WHERE campaign_id = ? AND device_id = ?`),
      seal: db.prepare<[string, number, number, number]>(
        `UPDATE campaigns SET state = 'running', bounds = ?, total = ?, wave = 0, started_at = ? WHERE id = ? AND state = 'draft' RETURNING ${CAMPAIGN_COLUMNS}`,
      ),
      claim: db.prepare<[string, number, string, number, number], CampaignRow>(
        `UPDATE campaigns SET lease_owner = ?, lease_until = ? WHERE id IN (SELECT id FROM campaigns WHERE state = 'running' AND (lease_owner = ? OR lease_until <= ?) ORDER BY id LIMIT ?) RETURNING ${CAMPAIGN_COLUMNS}`,
      ),
      release: db.prepare<[string]>(`UPDATE campaigns SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?`),
      leased: db.prepare<[number, string, number], CampaignRow>(`${one} WHERE id = ? AND state = 'running' AND lease_owner = ? AND lease_until > ?`),
      // The buckets wholly inside [lo, hi) from the counts the triggers keep, the ragged ends device by device.
      counts: db.prepare<[CountParams], { state: string; n: number }>(
        `SELECT state, sum(n) AS n FROM (
           SELECT state, n FROM campaign_counts WHERE campaign_id = @id AND bucket >= @bucketLo AND bucket < @bucketHi
           UNION ALL SELECT state, 1 FROM campaign_devices INDEXED BY campaign_devices_seq WHERE campaign_id = @id AND seq >= @lo1 AND seq < @hi1
           UNION ALL SELECT state, 1 FROM campaign_devices INDEXED BY campaign_devices_seq WHERE campaign_id = @id AND seq >= @lo2 AND seq < @hi2
         ) GROUP BY state`,
      ),
      inProgress: db.prepare<[number], { n: number }>(`SELECT count(*) AS n FROM campaign_devices INDEXED BY campaign_devices_state WHERE campaign_id = ? AND state = 'in-progress'`),
      pending: db.prepare<[number, number, number, number, number], { device_id: string; seq: number }>(
        `SELECT device_id, seq FROM campaign_devices WHERE campaign_id = ? AND state = 'pending' AND seq >= ? AND seq < ? AND seq > ? ORDER BY seq LIMIT ?`,
      ),
      start: db.prepare<[number, number, string], { attempts: number }>(
        `UPDATE campaign_devices SET state = 'in-progress', attempts = attempts + 1, task_id = NULL, reason = NULL, verify_until = NULL, started_at = ?, finished_at = NULL WHERE campaign_id = ? AND device_id = ? AND state = 'pending' RETURNING attempts`,
      ),
      attach: db.prepare<[number, number, string]>(`UPDATE campaign_devices SET task_id = ? WHERE campaign_id = ? AND device_id = ? AND state = 'in-progress'`),
      unattached: db.prepare<[number, number], { device_id: string; attempts: number }>(
        `SELECT device_id, attempts FROM campaign_devices WHERE campaign_id = ? AND state = 'in-progress' AND task_id IS NULL ORDER BY seq LIMIT ?`,
      ),
      advance: db.prepare<[string, string | null, number, number | null, number]>(`UPDATE campaigns SET state = ?, reason = ?, wave = ?, finished_at = ? WHERE id = ?`),
      device: db.prepare<[number, string], CampaignRow>(`${dev} WHERE campaign_id = ? AND device_id = ?`),
      end: db.prepare<[string, string | null, number | null, number, string]>(`UPDATE campaign_devices SET state = ?, reason = ?, verify_until = NULL, finished_at = ? WHERE campaign_id = ? AND device_id = ?`),
      verifying: db.prepare<[number, number, string, number], CampaignRow>(
        `UPDATE campaign_devices SET verify_until = ? WHERE campaign_id = ? AND device_id = ? AND task_id = ? AND state = 'in-progress' RETURNING ${DEVICE_COLUMNS}`,
      ),
      byTask: db.prepare<[number], CampaignRow>(`${dev} WHERE task_id = ?`),
      active: db.prepare<[string], CampaignRow>(`${dev} WHERE device_id = ? AND state = 'in-progress'`),
      due: db.prepare<[number, number], CampaignRow>(`${dev} WHERE verify_until IS NOT NULL AND verify_until <= ? AND state = 'in-progress' ORDER BY verify_until LIMIT ?`),
      skip: db.prepare<[string, number, number, string]>(`UPDATE campaign_devices SET state = 'skipped', reason = ?, finished_at = ? WHERE campaign_id = ? AND device_id = ? AND state = 'pending'`),
      cancelPending: db.prepare<[number, number, number, number]>(
        `UPDATE campaign_devices SET state = 'cancelled', reason = 'the campaign was cancelled', finished_at = ?
         WHERE campaign_id = ? AND device_id IN (SELECT device_id FROM campaign_devices INDEXED BY campaign_devices_state WHERE campaign_id = ? AND state = 'pending' LIMIT ?)`,
      ),
      devices: db.prepare<[number, string, number, number], CampaignRow>(`${dev} WHERE campaign_id = ? AND state = ? AND seq > ? ORDER BY seq LIMIT ?`),
      firmwareActive: db.prepare<[], { one: number }>(`SELECT 1 AS one FROM campaigns WHERE file_id IS NOT NULL AND state IN ('running', 'paused') LIMIT 1`),
      usingFile: db.prepare<[string], { name: string }>(`SELECT name FROM campaigns WHERE file_id = ? AND state NOT IN ('done', 'cancelled') ORDER BY id LIMIT 1`),
    };
  }

  async create(name: string, spec: CampaignSpec, targetVersion: string | null, now: number): Promise<Campaign | undefined> {
    const r = this.#s.create.get(name, 'draft', JSON.stringify(spec), fileOf(spec), targetVersion, now) as CampaignRow | undefined;
    return r && campaignOf(r);
  }

  async get(name: string): Promise<Campaign | undefined> {
    const r = this.#s.byName.get(name);
    return r && campaignOf(r);
  }

  async byId(id: number): Promise<Campaign | undefined> {
    const r = this.#s.byId.get(id);
    return r && campaignOf(r);
  }

  async list(limit: number): Promise<Campaign[]> {
    return this.#s.list.all(limit).map(campaignOf);
  }

  transition(id: number, from: readonly CampaignState[], to: CampaignState, reason: string | null, now: number, acceptWave = false): Promise<Campaign | undefined> {
    return this.#units.run(() => {
      const c = this.#s.byId.get(id);
      if (!c || !from.includes(c['state'] as CampaignState)) return undefined;
      const over = to === 'done' || to === 'cancelled';
      const r = this.#s.setState.get(to, reason, to === 'running' ? now : null, over ? now : null, acceptWave ? 1 : 0, id) as CampaignRow;
      return campaignOf(r);
    });
  }

  async clearTargets(id: number): Promise<void> {
    this.#s.clear.run(id);
  }

  addTargets(id: number, rows: readonly { deviceId: string; seq: number }[]): Promise<void> {
    return this.#units.run(() => {
      if (this.#s.byId.get(id)?.['state'] !== 'draft') return;
      for (const r of rows) this.#s.add.run(id, r.deviceId, r.seq);
    });
  }

  seal(id: number, canary: readonly string[], bounds: readonly number[], total: number, now: number): Promise<Campaign | undefined> {
    return this.#units.run(() => {
      if (this.#s.byId.get(id)?.['state'] !== 'draft') return undefined;
      canary.forEach((d, i) => this.#s.canary.run(-1 - i, id, d));
      return campaignOf(this.#s.seal.get(JSON.stringify(bounds), total, now, id) as CampaignRow);
    });
  }

  async claim(owner: string, now: number, ttlMs: number, limit: number): Promise<Campaign[]> {
    return this.#s.claim.all(owner, now + ttlMs, owner, now, limit).map(campaignOf);
  }

  async release(owner: string): Promise<void> {
    this.#s.release.run(owner);
  }

  async counts(id: number, lo = MIN, hi = MAX): Promise<StateCounts> {
    return countsOf(this.#s.counts.all(countParams(id, lo, hi)));
  }

  async inProgress(id: number): Promise<number> {
    return this.#s.inProgress.get(id)!.n;
  }

  async pending(id: number, lo: number, hi: number, afterSeq: number, limit: number): Promise<{ deviceId: string; seq: number }[]> {
    return this.#s.pending.all(id, lo, hi, afterSeq, limit).map((r) => ({ deviceId: r.device_id, seq: r.seq }));
  }

  start(id: number, owner: string, deviceIds: readonly string[], now: number): Promise<Started[]> {
    return this.#units.run(() => {
      const c = this.#s.leased.get(id, owner, now);
      if (!c) return [];
      let free = campaignOf(c).spec.concurrency - this.#s.inProgress.get(id)!.n;
      const started: Started[] = [];
      for (const d of deviceIds) {
        if (free <= 0) break;
        const r = this.#s.start.get(now, id, d);
        if (!r) continue;
        started.push({ deviceId: d, attempt: r.attempts });
        free--;
      }
      return started;
    });
  }

  async attach(id: number, deviceId: string, taskId: number): Promise<void> {
    this.#s.attach.run(taskId, id, deviceId);
  }

  async unattached(id: number, limit: number): Promise<Started[]> {
    return this.#s.unattached.all(id, limit).map((r) => ({ deviceId: r.device_id, attempt: r.attempts }));
  }

  advance(id: number, owner: string, wave: number, step: Exclude<WaveStep, { kind: 'work' }>, now: number): Promise<Campaign | undefined> {
    return this.#units.run(() => {
      const r = this.#s.leased.get(id, owner, now);
      if (!r) return undefined;
      const c = campaignOf(r);
      if (c.wave !== wave) return undefined;
      const w = advanceWrite(c, step, now);
      this.#s.advance.run(w.state, w.reason, w.wave, w.finishedAt, id);
      return campaignOf(this.#s.byId.get(id)!);
    });
  }

  finish(id: number, deviceId: string, taskId: number | null, outcome: DeviceOutcome, now: number): Promise<Finished | undefined> {
    return this.#units.run(() => {
      const cr = this.#s.byId.get(id);
      const dr = this.#s.device.get(id, deviceId);
      if (!cr || !dr) return undefined;
      const d = deviceOf(dr);
      if (d.state !== 'in-progress' || (taskId !== null && d.taskId !== taskId)) return undefined;
      let c = campaignOf(cr);
      const state: DeviceState = afterOutcome(outcome, d.attempts, c.spec.maxAttempts);
      const reason = outcome.kind === 'succeeded' ? null : outcome.reason;
      this.#s.end.run(state, reason, state === 'pending' ? null : now, id, deviceId);
      if (state === 'failed' && c.state === 'running') {
        const { lo, hi } = waveRange(c.bounds, c.wave);
        if (d.seq >= lo && d.seq < hi) {
          const stop = stopReason(c, countsOf(this.#s.counts.all(countParams(id, lo, hi))));
          if (stop) c = campaignOf(this.#s.setState.get('paused', stop, null, null, 0, id) as CampaignRow);
        }
      }
      return { device: deviceOf(this.#s.device.get(id, deviceId)!), state, campaign: c };
    });
  }

  async verifying(id: number, deviceId: string, taskId: number, until: number): Promise<CampaignDevice | undefined> {
    const r = this.#s.verifying.get(until, id, deviceId, taskId);
    return r && deviceOf(r);
  }

  async byTask(taskId: number): Promise<CampaignDevice | undefined> {
    const r = this.#s.byTask.get(taskId);
    return r && deviceOf(r);
  }

  async activeOf(deviceId: string): Promise<CampaignDevice[]> {
    return this.#s.active.all(deviceId).map(deviceOf);
  }

  async dueVerifications(now: number, limit: number): Promise<CampaignDevice[]> {
    return this.#s.due.all(now, limit).map(deviceOf);
  }

  skip(id: number, deviceIds: readonly string[], reason: string, now: number): Promise<number> {
    return this.#units.run(() => deviceIds.reduce((n, d) => n + this.#s.skip.run(reason, now, id, d).changes, 0));
  }

  async cancelPending(id: number, now: number, limit: number): Promise<number> {
    return this.#s.cancelPending.run(now, id, id, limit).changes;
  }

  async devices(id: number, state: DeviceState, afterSeq: number, limit: number): Promise<CampaignDevice[]> {
    return this.#s.devices.all(id, state, afterSeq, limit).map(deviceOf);
  }

  async firmwareActive(): Promise<boolean> {
    return this.#s.firmwareActive.get() !== undefined;
  }

  async usingFile(fileId: string): Promise<string | undefined> {
    return this.#s.usingFile.get(fileId)?.name;
  }
}
