import type { Clock } from '../clock.js';
import type { Logger } from '../log/logger.js';
import type { Inform } from '../management/cwmp-soap.js';
import type { Task } from '../management/task.js';
import type { Campaign, DeviceOutcome } from './campaign.js';
import type { CampaignRepo } from './campaign-repo.js';
import { campaignOfTask } from './campaign-task.js';
import { afterInform, afterTransfer, type InformSeen, softwareVersionOf } from './verification.js';

export interface CampaignOutcomesDeps {
  readonly repo: CampaignRepo;
  readonly clock: Clock;
  readonly log: Logger;
  /** Whether any firmware campaign may have devices in progress (else Informs are not looked at). */
  readonly watching: () => boolean;
}

/** Informs remembered at most (one per device in progress, until its TransferComplete). */
const INFORMS_KEPT = 100_000;

/**
 * How each device's try ends, from what the management channel reports: task outcomes (SetParameterValues
 * answered, Download faulted, task expired), a clean TransferComplete, and the Informs after it with the
 * SoftwareVersion they report. Any node records them; each is one unit of work guarded by the device's state.
 */
export class CampaignOutcomes {
  readonly #d: CampaignOutcomesDeps;
  readonly #verifyTimeoutMs: number;
  /** The latest Inform of devices in progress: a TransferComplete is judged by its session's Inform. */
  readonly #informs = new Map<string, InformSeen>();

  constructor(deps: CampaignOutcomesDeps, verifyTimeoutMs: number) {
    this.#d = deps;
    this.#verifyTimeoutMs = verifyTimeoutMs;
  }

  /** A campaign task finished: done, fault, expired or cancelled. */
  async taskFinished(t: Task): Promise<void> {
    const found = await this.#rowOf(t);
    if (!found) return;
    const { campaign } = found;
    const fault = t.fault;
    if (t.status === 'expired') return this.#end(campaign, t, { kind: 'skipped', reason: 'offline past the window: the device did not call in before its task expired' });
    if (t.status === 'cancelled') return this.#end(campaign, t, { kind: 'cancelled', reason: 'its task was cancelled' });
    if (campaign.spec.action.kind === 'set') {
      if (t.status === 'done') return this.#end(campaign, t, { kind: 'succeeded' });
      const detail = fault?.details?.[0];
      const reason = `SetParameterValues fault ${fault?.code ?? 0} ${fault?.message ?? ''}`.trim() + (detail ? ` (${detail.parameter}: ${detail.code} ${detail.message})` : '');
      return this.#end(campaign, t, { kind: 'failed', reason });
    }
    if (t.status === 'fault') {
      const transfer = (t.result as { transfer?: unknown } | null)?.transfer !== undefined;
      const reason = transfer ? afterTransfer(fault, undefined, campaign.targetVersion ?? '') : { kind: 'failed' as const, reason: `Download refused: fault ${fault?.code ?? 0} ${fault?.message ?? ''}`.trim() };
      return this.#end(campaign, t, reason!);
    }
    // DownloadResponse: the new version is awaited (TransferComplete, reboot, Inform) until verify_timeout.
    await this.#d.repo.verifying(campaign.id, t.deviceId, t.id, this.#d.clock.now() + this.#verifyTimeoutMs);
  }

  /** A Download's TransferComplete came without a fault: judged by the Inform of its session, else by the next boot. */
  async transferred(t: Task): Promise<void> {
    const found = await this.#rowOf(t);
    if (!found || found.campaign.spec.action.kind !== 'firmware') return;
    const outcome = afterTransfer(null, this.#informs.get(t.deviceId), found.campaign.targetVersion ?? '');
    if (outcome) return this.#end(found.campaign, t, outcome);
    await this.#d.repo.verifying(found.campaign.id, t.deviceId, t.id, this.#d.clock.now() + this.#verifyTimeoutMs);
  }

  /** Every Inform: a device being verified succeeds on the file's version, fails on a boot into another. */
  async informed(deviceId: string, inform: Inform): Promise<void> {
    if (!this.#d.watching()) return;
    const rows = await this.#d.repo.activeOf(deviceId);
    if (rows.length === 0) return;
    const seen = { events: inform.events.map((e) => e.code), softwareVersion: softwareVersionOf(inform.parameters) };
    if (this.#informs.size >= INFORMS_KEPT) this.#informs.delete(this.#informs.keys().next().value!);
    this.#informs.delete(deviceId);
    this.#informs.set(deviceId, seen);
    for (const row of rows) {
      if (row.verifyUntil === null) continue;
      const campaign = await this.#d.repo.byId(row.campaignId);
      if (!campaign?.targetVersion) continue;
      const outcome = afterInform(seen, campaign.targetVersion);
      if (outcome) await this.#finish(campaign, deviceId, row.taskId, outcome);
    }
  }

  /** Forgets a device's remembered Inform (its try is over). */
  async #finish(campaign: Campaign, deviceId: string, taskId: number | null, outcome: DeviceOutcome): Promise<void> {
    const done = await this.#d.repo.finish(campaign.id, deviceId, taskId, outcome, this.#d.clock.now());
    if (!done) return;
    this.#informs.delete(deviceId);
    const log = this.#d.log;
    log.info({ campaign: campaign.name, device: deviceId, state: done.state, reason: done.device.reason }, 'campaign device finished its try');
    if (done.campaign.state === 'paused' && campaign.state === 'running') log.warn({ campaign: campaign.name, reason: done.campaign.reason }, 'campaign paused itself');
  }

  #end(campaign: Campaign, t: Task, outcome: DeviceOutcome): Promise<void> {
    return this.#finish(campaign, t.deviceId, t.id, outcome);
  }

  /** The campaign and its device row a task belongs to, attached to the task if the start was interrupted. */
  async #rowOf(t: Task): Promise<{ campaign: Campaign } | undefined> {
    const key = campaignOfTask(t);
    if (!key) return undefined;
    const { repo } = this.#d;
    const row = (await repo.activeOf(t.deviceId)).find((r) => r.campaignId === key.campaignId);
    if (!row || row.attempts !== key.attempt) return undefined;
    if (row.taskId === null) await repo.attach(key.campaignId, t.deviceId, t.id);
    const campaign = await repo.byId(key.campaignId);
    return campaign && { campaign };
  }
}
