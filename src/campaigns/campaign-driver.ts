import type { Clock } from '../clock.js';
import type { WorkSlices } from '../listeners/work-slices.js';
import type { Logger } from '../log/logger.js';
import type { TaskRequest } from '../management/task.js';
import type { Task } from '../management/task.js';
import type { QueueOptions } from '../management/task-queue.js';
import type { Scheduler } from '../timer/scheduler.js';
import type { TimerHandle } from '../timer/wheel.js';
import type { Campaign } from './campaign.js';
import type { CampaignRepo, Started } from './campaign-repo.js';
import { waveRange, waveStep } from './campaign-rules.js';
import { campaignRequest, campaignTaskKey } from './campaign-task.js';
import type { FileCatalog } from './file-source.js';
import { windowStatus } from './maintenance-window.js';
import { verifyTimeoutReason } from './verification.js';

export interface CampaignDriverDeps {
  readonly repo: CampaignRepo;
  readonly queue: (deviceId: string, request: TaskRequest, opts: QueueOptions) => Promise<{ task: Task }>;
  readonly files: FileCatalog | undefined;
  /** Which of these devices are online (in a cluster: whichever node holds them). */
  readonly onlineAmong: (deviceIds: readonly string[]) => Promise<ReadonlySet<string>>;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly log: Logger;
  /** This process, as the campaigns' leases name it (unique per start). */
  readonly nodeId: string;
  /** The daemon's slices of loop time: hundreds of devices started in one tick give the turn back between slices. */
  readonly slices: Pick<WorkSlices, 'next'>;
}

export interface CampaignDriverOptions {
  readonly tickMs: number;
  /** A driver that stops renewing its lease for this long loses its campaigns to another node. */
  readonly leaseMs: number;
  readonly verifyTimeoutMs: number;
  /** As configured ("1h"), for the failure reason. */
  readonly verifyTimeoutText: string;
}

const SEQ_MIN = Number.MIN_SAFE_INTEGER;
/** Campaigns one node drives at once; pending rows examined per campaign per tick; rows read per statement. */
const MAX_DRIVEN = 100;
const SCAN_PER_TICK = 5000;
const PAGE = 500;
/** A wave step that moves on (next wave) is followed at once, this many times a tick at most. */
const STEPS_PER_TICK = 8;
/** A task never expires sooner than this after it is queued, even at the very end of a window. */
const MIN_TASK_LIFE_MS = 60_000;

/**
 * Drives the running campaigns this node holds the lease of, a tick at a time on the daemon's timer: starts
 * online devices of the current wave while the window is open and the concurrency allows, moves to the next
 * wave (or pauses, or finishes) when the rules say so, skips devices left offline when a window closes, and
 * fails devices whose new firmware did not show up within verify_timeout.
 */
export class CampaignDriver {
  readonly #d: CampaignDriverDeps;
  readonly #o: CampaignDriverOptions;
  /** Where the scan of pending devices goes on, per campaign (they are examined in turn, not always the first ones). */
  readonly #cursor = new Map<number, number>();
  /** When the window a campaign last worked in closes: past it, devices still offline are skipped. */
  readonly #closes = new Map<number, number>();
  #timer: TimerHandle | undefined;
  #ticking: Promise<void> | undefined;
  #again = false;
  #stopped = true;
  #firmwareActive = false;

  constructor(deps: CampaignDriverDeps, opts: CampaignDriverOptions) {
    this.#d = deps;
    this.#o = opts;
  }

  /** Whether a firmware campaign is running or paused (its devices' Informs matter). */
  get firmwareActive(): boolean {
    return this.#firmwareActive;
  }

  async start(): Promise<void> {
    this.#stopped = false;
    await this.tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#d.scheduler.cancel(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    await this.#d.repo.release(this.#d.nodeId).catch((err: unknown) => this.#d.log.warn({ err }, 'releasing the campaign leases failed; they expire by themselves'));
  }

  /** Runs a tick now (after the one in progress, if any). */
  tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true;
      return this.#ticking;
    }
    this.#ticking = this.#run().finally(() => {
      this.#ticking = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.tick();
      } else this.#schedule();
    });
    return this.#ticking;
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined) this.#d.scheduler.cancel(this.#timer);
    this.#timer = this.#d.scheduler.at(this.#d.clock.now() + this.#o.tickMs, () => {
      this.#timer = undefined;
      void this.tick();
    });
  }

  async #run(): Promise<void> {
    const { repo, clock, log, nodeId } = this.#d;
    try {
      const now = clock.now();
      this.#firmwareActive = await repo.firmwareActive();
      for (const c of await repo.claim(nodeId, now, this.#o.leaseMs, MAX_DRIVEN)) {
        try {
          await this.#drive(c, now);
        } catch (err) {
          log.error({ err, campaign: c.name }, 'driving a campaign failed; tried again next tick');
        }
      }
      await this.#timeouts(now);
    } catch (err) {
      log.error({ err }, 'the campaign tick failed; tried again next tick');
    }
  }

  async #drive(campaign: Campaign, now: number): Promise<void> {
    const { repo, log, nodeId } = this.#d;
    let c = campaign;
    // A start interrupted between marking a device in progress and queuing its task: the task is queued now
    // (its idempotency key makes it the same task if it was queued after all).
    for (const s of await repo.unattached(c.id, PAGE)) {
      await this.#d.slices.next();
      await this.#queue(c, s, now, undefined);
    }
    const win = windowStatus(now, c.spec.window, c.spec.days, c.spec.timezone);
    if (win.open) this.#closes.set(c.id, win.closesAt);
    else await this.#windowClosed(c, now);
    for (let i = 0; i < STEPS_PER_TICK; i++) {
      const { lo, hi } = waveRange(c.bounds, c.wave);
      const wave = await repo.counts(c.id, lo, hi);
      // The wave's counts come from the store's buckets (about 1 ms for a wave of a million); in progress from its index.
      const step = waveStep(c, wave, await repo.inProgress(c.id));
      if (step.kind === 'work') {
        if (win.open && step.free > 0) await this.#startSome(c, lo, hi, step.free, now, win.closesAt);
        return;
      }
      const after = await repo.advance(c.id, nodeId, c.wave, step, now);
      if (!after) return;
      this.#cursor.delete(c.id);
      if (step.kind === 'pause') log.warn({ campaign: c.name, reason: step.reason }, 'campaign paused itself');
      else if (step.kind === 'done') log.info({ campaign: c.name }, 'campaign done');
      else log.info({ campaign: c.name, wave: step.wave }, 'campaign moves to its next wave');
      if (after.state !== 'running') return;
      c = after;
    }
  }

  /** Past the end of the window the campaign last worked in: its current wave's pending devices still offline are skipped. */
  async #windowClosed(c: Campaign, now: number): Promise<void> {
    const closed = this.#closes.get(c.id);
    if (closed === undefined || now < closed) return;
    this.#closes.delete(c.id);
    const { lo, hi } = waveRange(c.bounds, c.wave);
    let skipped = 0;
    for (let after = SEQ_MIN; ; ) {
      const rows = await this.#d.repo.pending(c.id, lo, hi, after, PAGE);
      if (rows.length === 0) break;
      after = rows.at(-1)!.seq;
      const online = await this.#d.onlineAmong(rows.map((r) => r.deviceId));
      const offline = rows.filter((r) => !online.has(r.deviceId)).map((r) => r.deviceId);
      if (offline.length > 0) skipped += await this.#d.repo.skip(c.id, offline, 'offline past the window', now);
    }
    if (skipped > 0) this.#d.log.info({ campaign: c.name, wave: c.wave, skipped }, 'the window closed: devices still offline are skipped');
  }

  async #startSome(c: Campaign, lo: number, hi: number, free: number, now: number, closesAt: number): Promise<void> {
    const { repo, onlineAmong, nodeId } = this.#d;
    const chosen: string[] = [];
    let after = this.#cursor.get(c.id) ?? SEQ_MIN;
    for (let scanned = 0; chosen.length < free && scanned < SCAN_PER_TICK; ) {
      const rows = await repo.pending(c.id, lo, hi, after, PAGE);
      if (rows.length === 0) {
        // The end of the wave: the next tick looks from its start again (devices may have come online).
        after = SEQ_MIN;
        break;
      }
      const online = await onlineAmong(rows.map((r) => r.deviceId));
      for (const r of rows) {
        scanned++;
        after = r.seq;
        if (online.has(r.deviceId)) chosen.push(r.deviceId);
        if (chosen.length >= free) break;
      }
    }
    this.#cursor.set(c.id, after);
    if (chosen.length === 0) return;
    const started = await repo.start(c.id, nodeId, chosen, now);
    for (const s of started) {
      await this.#d.slices.next();
      await this.#queue(c, s, now, closesAt);
    }
    if (started.length > 0) this.#d.log.info({ campaign: c.name, wave: c.wave, started: started.length }, 'campaign devices started');
  }

  /** The device's task for this try, queued (expiring when the window closes) and attached to its row. */
  async #queue(c: Campaign, s: Started, now: number, closesAt: number | undefined): Promise<void> {
    const { repo, log } = this.#d;
    const request = await campaignRequest(c, s.deviceId, this.#d.files);
    if (typeof request === 'string') {
      await repo.finish(c.id, s.deviceId, null, { kind: 'failed', reason: request }, now);
      return;
    }
    try {
      const expiresInMs = closesAt === undefined ? undefined : Math.max(MIN_TASK_LIFE_MS, closesAt - now);
      const { task } = await this.#d.queue(s.deviceId, request, { origin: 'campaign', idempotencyKey: campaignTaskKey(c.id, s.attempt), ...(expiresInMs === undefined ? {} : { expiresInMs }) });
      await repo.attach(c.id, s.deviceId, task.id);
    } catch (err) {
      const reason = `its task could not be queued: ${(err as Error).message}`;
      log.warn({ campaign: c.name, device: s.deviceId, err: (err as Error).message }, 'campaign task not queued');
      await repo.finish(c.id, s.deviceId, null, { kind: 'failed', reason }, now);
    }
  }

  /** Firmware devices whose new version did not show up in time fail (any node may record it). */
  async #timeouts(now: number): Promise<void> {
    const { repo, log } = this.#d;
    for (const d of await repo.dueVerifications(now, PAGE)) {
      const c = await repo.byId(d.campaignId);
      if (!c) continue;
      const done = await repo.finish(d.campaignId, d.deviceId, d.taskId, { kind: 'failed', reason: verifyTimeoutReason(c.targetVersion ?? '', this.#o.verifyTimeoutText) }, now);
      if (done) log.info({ campaign: c.name, device: d.deviceId, state: done.state }, 'campaign device not back on its new firmware in time');
    }
  }
}
