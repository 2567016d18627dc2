import type { Campaign, CampaignState, DeviceOutcome, DeviceState, StateCounts } from './campaign.js';

/** What an operator asks of a campaign. */
export type CampaignCommand = 'start' | 'pause' | 'resume' | 'cancel';

const ALLOWED: Record<CampaignCommand, readonly CampaignState[]> = {
  start: ['draft'],
  pause: ['running'],
  resume: ['paused'],
  cancel: ['draft', 'running', 'paused'],
};
const TARGET: Record<CampaignCommand, CampaignState> = { start: 'running', pause: 'paused', resume: 'running', cancel: 'cancelled' };

/** The state a command leads to, or why it may not be given now. */
export function commandTransition(state: CampaignState, command: CampaignCommand): { to: CampaignState } | { refused: string } {
  if (ALLOWED[command].includes(state)) return { to: TARGET[command] };
  return { refused: `the campaign is ${state}: ${command} applies to a campaign that is ${ALLOWED[command].join(' or ')}` };
}

/**
 * The waves as `seq` bounds. The canary devices get the negative seqs -canary…-1 (wave 0); the others keep
 * their place 0…total-1 in the selection, so wave k (1…) is the seqs below ceil(waves[k-1] × total)
 * not in an earlier wave. Returns the exclusive upper seq of each wave, the canary's (0) first.
 */
export function waveBounds(total: number, waves: readonly number[]): number[] {
  const bounds = [0];
  for (const w of waves) bounds.push(Math.min(total, Math.ceil(w * total - 1e-9)));
  bounds[bounds.length - 1] = total;
  return bounds;
}

/** The seq range [lo, hi) of a wave. */
export function waveRange(bounds: readonly number[], wave: number): { lo: number; hi: number } {
  return { lo: wave === 0 ? Number.MIN_SAFE_INTEGER : bounds[wave - 1]!, hi: bounds[wave]! };
}

const sum = (c: StateCounts) => Object.values(c).reduce((a, b) => a + b, 0);

/** Why a wave's failures stop the campaign, or undefined. The canary stops at its first failure. */
export function stopReason(c: Pick<Campaign, 'wave' | 'acceptedWave' | 'spec'>, wave: StateCounts): string | undefined {
  if (c.acceptedWave === c.wave || wave.failed === 0) return undefined;
  if (c.wave === 0) return `canary: ${wave.failed} of ${sum(wave)} devices failed; the canary must fully succeed (resume to go on anyway)`;
  const size = sum(wave);
  const rate = wave.failed / size;
  if (rate <= c.spec.stopFailureRate) return undefined;
  return `stop rule: wave ${c.wave} has ${wave.failed} of ${size} devices failed (${pct(rate)}), above --stop-failure-rate ${pct(c.spec.stopFailureRate)} (resume to go on anyway)`;
}

const pct = (r: number) => `${Math.round(r * 1000) / 10}%`;

/** What a running campaign does next with its current wave. */
export type WaveStep =
  /** Start up to `free` pending devices of the wave (0 when the cap is reached). */
  | { readonly kind: 'work'; readonly free: number }
  | { readonly kind: 'pause'; readonly reason: string }
  | { readonly kind: 'next-wave'; readonly wave: number }
  | { readonly kind: 'done' };

/** `wave`: the counts of the current wave; `inProgress`: the campaign's devices in progress (every wave). */
export function waveStep(c: Pick<Campaign, 'wave' | 'acceptedWave' | 'spec' | 'bounds'>, wave: StateCounts, inProgress: number): WaveStep {
  const stop = stopReason(c, wave);
  if (stop) return { kind: 'pause', reason: stop };
  if (wave.pending + wave['in-progress'] > 0) return { kind: 'work', free: Math.max(0, c.spec.concurrency - inProgress) };
  if (c.wave === 0 && c.acceptedWave !== 0 && wave.skipped + wave.cancelled > 0) {
    return { kind: 'pause', reason: `canary: ${wave.skipped + wave.cancelled} of ${sum(wave)} devices did not run (offline past the window); the canary must fully succeed (resume to go on anyway)` };
  }
  return c.wave + 1 >= c.bounds.length ? { kind: 'done' } : { kind: 'next-wave', wave: c.wave + 1 };
}

/** Where a device goes when its try ends: a failure with tries left goes back to pending. */
export function afterOutcome(outcome: DeviceOutcome, attempts: number, maxAttempts: number): DeviceState {
  if (outcome.kind === 'failed' && attempts < maxAttempts) return 'pending';
  return outcome.kind;
}
