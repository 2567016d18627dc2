import cliProgress from 'cli-progress';

/** What a campaign's progress bar shows. */
export interface CampaignProgress {
  readonly total: number;
  readonly counts: Record<'pending' | 'in-progress' | 'succeeded' | 'failed' | 'skipped' | 'cancelled', number>;
  readonly state: string;
  readonly wave: number;
  readonly waveCount: number;
}

export interface CampaignBar {
  update(p: CampaignProgress): void;
  stop(): void;
}

/** A live bar on a terminal: devices finished (succeeded, failed, skipped, cancelled) of the campaign's total. */
export function campaignBar(stream: NodeJS.WriteStream): CampaignBar {
  const bar = new cliProgress.SingleBar(
    { format: '{bar} {value}/{total} | {state} wave {wave}/{waves} | ok {succeeded} failed {failed} skipped {skipped} in progress {inProgress}', stream, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const c = p.counts;
      const payload = { state: p.state, wave: p.wave, waves: p.waveCount, succeeded: c.succeeded, failed: c.failed, skipped: c.skipped, inProgress: c['in-progress'] };
      const value = c.succeeded + c.failed + c.skipped + c.cancelled;
      if (!started) bar.start(p.total, value, payload);
      else bar.update(value, payload);
      started = true;
    },
    stop: () => void (started && bar.stop()),
  };
}
