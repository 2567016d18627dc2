import type { Campaign, CampaignDevice, CampaignSpec, CampaignState, DeviceOutcome, DeviceState, StateCounts } from './campaign.js';
import type { WaveStep } from './campaign-rules.js';

/** A device the driver started: its try number (the idempotency of its task). */
export interface Started {
  readonly deviceId: string;
  readonly attempt: number;
}

/** How a device's try was recorded: the state it went to, and the campaign after (paused by the stop rule?). */
export interface Finished {
  readonly device: CampaignDevice;
  readonly state: DeviceState;
  readonly campaign: Campaign;
}

/**
 * The campaigns' store, one method per unit of work. Device rows move only from the state a method expects
 * (a device is started once per try, its try ends once); the driver's writes are fenced by its lease.
 */
export interface CampaignRepo {
  /** Undefined when the name is taken. */
  create(name: string, spec: CampaignSpec, targetVersion: string | null, now: number): Promise<Campaign | undefined>;
  get(name: string): Promise<Campaign | undefined>;
  byId(id: number): Promise<Campaign | undefined>;
  /** Newest first, at most `limit`. */
  list(limit: number): Promise<Campaign[]>;
  /** `from` → `to` with `reason`; resuming sets the wave whose stop rule is overridden. Undefined when not in `from`. */
  transition(id: number, from: readonly CampaignState[], to: CampaignState, reason: string | null, now: number, acceptWave?: boolean): Promise<Campaign | undefined>;
  /** Drafts only: forgets targets of an interrupted start. */
  clearTargets(id: number): Promise<void>;
  /** Drafts only: a batch of the target set, in selection order. */
  addTargets(id: number, rows: readonly { readonly deviceId: string; readonly seq: number }[]): Promise<void>;
  /** draft → running: the canary devices (seq -1, -2, …), the wave bounds and the total, in one unit. */
  seal(id: number, canary: readonly string[], bounds: readonly number[], total: number, now: number): Promise<Campaign | undefined>;
  /** Running campaigns whose lease is `owner`'s or expired, leased to `owner` until now + ttl. */
  claim(owner: string, now: number, ttlMs: number, limit: number): Promise<Campaign[]>;
  /** Gives up `owner`'s leases (a clean stop). */
  release(owner: string): Promise<void>;
  counts(id: number, lo?: number, hi?: number): Promise<StateCounts>;
  /** The campaign's devices in progress, every wave (read from the state index: as many rows as the concurrency allows). */
  inProgress(id: number): Promise<number>;
  /** Pending devices with lo ≤ seq < hi, after `afterSeq`, in seq order. */
  pending(id: number, lo: number, hi: number, afterSeq: number, limit: number): Promise<{ deviceId: string; seq: number }[]>;
  /**
   * pending → in-progress for up to the free room under the campaign's concurrency, only while it is running
   * and leased to `owner`. Returns those started, each with its try number.
   */
  start(id: number, owner: string, deviceIds: readonly string[], now: number): Promise<Started[]>;
  attach(id: number, deviceId: string, taskId: number): Promise<void>;
  /** In-progress devices with no task yet (a start interrupted before its task was queued). */
  unattached(id: number, limit: number): Promise<Started[]>;
  /** Applies a wave step the rules chose (pause, next wave, done), if the campaign is still running that wave under `owner`. */
  advance(id: number, owner: string, wave: number, step: Exclude<WaveStep, { kind: 'work' }>, now: number): Promise<Campaign | undefined>;
  /**
   * Ends an in-progress device's try (its task `taskId`, when given, must be the device's): failed with tries left
   * goes back to pending. A final failure of the running wave is checked against the stop rule and may pause the campaign.
   */
  finish(id: number, deviceId: string, taskId: number | null, outcome: DeviceOutcome, now: number): Promise<Finished | undefined>;
  /** The device's TransferComplete was clean: its new version is awaited until `until`. */
  verifying(id: number, deviceId: string, taskId: number, until: number): Promise<CampaignDevice | undefined>;
  byTask(taskId: number): Promise<CampaignDevice | undefined>;
  /** A device's rows in progress (in any campaign). */
  activeOf(deviceId: string): Promise<CampaignDevice[]>;
  /** Devices whose verification ran out before `now`. */
  dueVerifications(now: number, limit: number): Promise<CampaignDevice[]>;
  /** pending → skipped for those of `deviceIds` still pending. */
  skip(id: number, deviceIds: readonly string[], reason: string, now: number): Promise<number>;
  /** Up to `limit` pending devices → cancelled (the campaign was cancelled): how many. */
  cancelPending(id: number, now: number, limit: number): Promise<number>;
  /** Devices in `state`, in seq order after `afterSeq`. */
  devices(id: number, state: DeviceState, afterSeq: number, limit: number): Promise<CampaignDevice[]>;
  /** Whether a firmware campaign is running or paused (its devices' Informs are then looked at). */
  firmwareActive(): Promise<boolean>;
  /** The name of a campaign not done or cancelled that installs `fileId`. */
  usingFile(fileId: string): Promise<string | undefined>;
}
