import type { Clock } from '../clock.js';
import type { DeviceSelection } from '../devices/selection.js';
import { parseSelector } from '../devices/selector/parser.js';
import { SelectorError } from '../devices/selector/selector-error.js';
import type { Logger } from '../log/logger.js';
import type { Campaign, CampaignDevice, StateCounts } from './campaign.js';
import { type CampaignInput, CampaignInputError, campaignSpec, checkName } from './campaign-input.js';
import type { CampaignRepo } from './campaign-repo.js';
import { type CampaignCommand, commandTransition, waveBounds, waveRange } from './campaign-rules.js';
import { CampaignError } from './campaign-error.js';
import type { FileCatalog, FileUseChecker } from './file-source.js';
import type { WorkSlices } from '../listeners/work-slices.js';

export interface CampaignServiceDeps {
  readonly repo: CampaignRepo;
  readonly selection: DeviceSelection;
  /** Undefined while stbd serves no files: firmware campaigns are refused. */
  readonly files: FileCatalog | undefined;
  /** Which of these devices are online (in a cluster: whichever node holds them). */
  readonly onlineAmong: (deviceIds: readonly string[]) => Promise<ReadonlySet<string>>;
  /** Cancels a task still queued (a cancelled campaign's undelivered tasks); refusals are the task's own business. */
  readonly cancelTask: (taskId: number) => Promise<unknown>;
  readonly clock: Clock;
  readonly log: Logger;
  /** Told when a campaign starts running again (start, resume): the driver looks at it at once. */
  readonly wake: () => void;
  /** Long loops (a start reading a million devices, a cancel) give the event loop back between batches. */
  readonly slices: Pick<WorkSlices, 'next'>;
}

/** What `campaign show` prints. */
export interface CampaignReport {
  readonly campaign: Campaign;
  readonly counts: StateCounts;
  /** Per wave, the canary (wave 0) first. */
  readonly waves: readonly { readonly wave: number; readonly size: number; readonly counts: StateCounts }[];
  /** The first failed devices with their reasons. */
  readonly failures: readonly CampaignDevice[];
}

/**
 * A start streams the selection into the campaign this many devices a batch (one unit of work each, about
 * 2 ms on SQLite: the batches run in the loop's slices, so keepalives are answered between them).
 */
const START_BATCH = 250;
export const LIST_LIMIT = 1000;
export const FAILURES_SHOWN = 100;

/**
 * The operator's side of campaigns: define, start (the target set is fixed then), pause, resume, cancel,
 * and report. The driver (campaign-driver.ts) does the work of running ones.
 */
export class CampaignService {
  readonly #d: CampaignServiceDeps;
  /** Starts in progress in this process (a second start of the same campaign is refused, not interleaved). */
  readonly #starting = new Set<number>();

  constructor(deps: CampaignServiceDeps) {
    this.#d = deps;
  }

  /** @throws CampaignError exists | bad-request | bad-selector | file-not-found */
  async create(name: string, input: CampaignInput): Promise<Campaign> {
    let spec;
    try {
      checkName(name);
      spec = campaignSpec(input);
      parseSelector(spec.where);
    } catch (err) {
      if (err instanceof CampaignInputError) throw new CampaignError('bad-request', err.message);
      if (err instanceof SelectorError) throw new CampaignError('bad-selector', `--where: ${err.message}`);
      throw err;
    }
    let targetVersion: string | null = null;
    if (spec.action.kind === 'firmware') {
      const { files } = this.#d;
      if (!files) throw new CampaignError('file-not-found', 'this stbd serves no files ([files]): a firmware campaign needs a file added with stbctl file add');
      const file = await files.get(spec.action.fileId);
      if (!file) throw new CampaignError('file-not-found', `no file ${JSON.stringify(spec.action.fileId)} (see stbctl file list)`);
      if (file.type !== 'firmware') throw new CampaignError('bad-request', `file ${file.id} is a ${file.type} file, not firmware`);
      targetVersion = file.version;
    }
    const c = await this.#d.repo.create(name, spec, targetVersion, this.#d.clock.now());
    if (!c) throw new CampaignError('exists', `a campaign named ${JSON.stringify(name)} exists already`);
    this.#d.log.info({ campaign: name, where: spec.where, action: spec.action.kind }, 'campaign created');
    return c;
  }

  async get(name: string): Promise<Campaign> {
    const c = await this.#d.repo.get(name);
    if (!c) throw new CampaignError('not-found', `no campaign ${JSON.stringify(name)} (see stbctl campaign list)`);
    return c;
  }

  list(): Promise<Campaign[]> {
    return this.#d.repo.list(LIST_LIMIT);
  }

  async report(name: string): Promise<CampaignReport> {
    const campaign = await this.get(name);
    const { repo } = this.#d;
    const counts = await repo.counts(campaign.id);
    const waves = [];
    for (let w = 0; w < campaign.bounds.length; w++) {
      const { lo, hi } = waveRange(campaign.bounds, w);
      const c = await repo.counts(campaign.id, lo, hi);
      waves.push({ wave: w, size: Object.values(c).reduce((a, b) => a + b, 0), counts: c });
    }
    const failures = await repo.devices(campaign.id, 'failed', Number.MIN_SAFE_INTEGER, FAILURES_SHOWN);
    return { campaign, counts, waves, failures };
  }

  /**
   * draft → running: the selection is read now, in pages, into the campaign (its target set from then on);
   * the canary is the first devices online now (then the first others).
   * @throws CampaignError not-found | conflict
   */
  async start(name: string): Promise<Campaign> {
    const c = await this.get(name);
    const refused = commandTransition(c.state, 'start');
    if ('refused' in refused) throw new CampaignError('conflict', refused.refused);
    if (this.#starting.has(c.id)) throw new CampaignError('conflict', 'the campaign is being started already');
    this.#starting.add(c.id);
    try {
      const { repo, selection, onlineAmong, clock, log } = this.#d;
      await repo.clearTargets(c.id);
      const online: string[] = [];
      const first: string[] = [];
      let seq = 0;
      const { slices } = this.#d;
      for await (const page of selection.pages(parseSelector(c.spec.where), START_BATCH)) {
        await slices.next();
        const onlineNow = online.length < c.spec.canary ? await onlineAmong(page) : new Set<string>();
        for (const id of page) {
          if (online.length < c.spec.canary && onlineNow.has(id)) online.push(id);
          if (first.length < c.spec.canary) first.push(id);
        }
        await repo.addTargets(c.id, page.map((deviceId) => ({ deviceId, seq: seq++ })));
      }
      if (seq === 0) throw new CampaignError('conflict', `no device matches --where ${JSON.stringify(c.spec.where)}: nothing to start`);
      const canary = [...new Set([...online, ...first])].slice(0, c.spec.canary);
      const started = await repo.seal(c.id, canary, waveBounds(seq, c.spec.waves), seq, clock.now());
      if (!started) throw new CampaignError('conflict', 'the campaign was started or cancelled meanwhile');
      log.info({ campaign: name, devices: seq, canary: canary.length, waves: c.spec.waves.length }, 'campaign started');
      this.#d.wake();
      return started;
    } finally {
      this.#starting.delete(c.id);
    }
  }

  /** Pause, resume (overriding the stop rule of the wave it paused in) or cancel. @throws CampaignError not-found | conflict */
  async command(name: string, command: Exclude<CampaignCommand, 'start'>): Promise<Campaign> {
    const c = await this.get(name);
    const t = commandTransition(c.state, command);
    if ('refused' in t) throw new CampaignError('conflict', t.refused);
    const { repo, clock, log } = this.#d;
    const reason = command === 'pause' ? 'paused by the operator' : null;
    const after = await repo.transition(c.id, [c.state], t.to, reason, clock.now(), command === 'resume');
    if (!after) throw new CampaignError('conflict', 'the campaign changed meanwhile; look again with stbctl campaign show');
    if (command === 'cancel') await this.#cancelWork(after);
    log.info({ campaign: name, command, state: after.state }, 'campaign changed by the operator');
    if (after.state === 'running') this.#d.wake();
    return after;
  }

  /** Pending devices are cancelled; so are tasks not yet delivered (their devices then too). Devices whose task went out finish. */
  async #cancelWork(c: Campaign): Promise<void> {
    const { repo, clock, cancelTask, slices } = this.#d;
    do await slices.next();
    while ((await repo.cancelPending(c.id, clock.now(), START_BATCH)) > 0);
    for (let after = Number.MIN_SAFE_INTEGER; ; ) {
      const page = await repo.devices(c.id, 'in-progress', after, START_BATCH);
      if (page.length === 0) break;
      after = page.at(-1)!.seq;
      for (const d of page) {
        await slices.next();
        if (d.taskId !== null) await cancelTask(d.taskId).catch(() => undefined);
      }
    }
  }

  /** "used by campaign X" while a campaign not done or cancelled installs the file. */
  readonly fileInUse: FileUseChecker = async (fileId) => {
    const name = await this.#d.repo.usingFile(fileId);
    return name === undefined ? undefined : `used by campaign ${name}`;
  };
}
