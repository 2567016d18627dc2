import type { Campaign, CampaignDevice, CampaignSpec, CampaignState, DeviceState, StateCounts } from './campaign.js';
import { emptyCounts } from './campaign.js';

/** A campaigns row as both engines return it (int8 as numbers). */
export type CampaignRow = Record<string, unknown>;

export const CAMPAIGN_COLUMNS = 'id, name, state, reason, spec, target_version, wave, bounds, accepted_wave, total, created_at, started_at, finished_at';
export const DEVICE_COLUMNS = 'campaign_id, device_id, seq, state, attempts, task_id, reason, verify_until, started_at, finished_at';

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export function campaignOf(r: CampaignRow): Campaign {
  return {
    id: num(r['id']),
    name: r['name'] as string,
    state: r['state'] as CampaignState,
    reason: (r['reason'] as string | null) ?? null,
    spec: JSON.parse(r['spec'] as string) as CampaignSpec,
    targetVersion: (r['target_version'] as string | null) ?? null,
    wave: num(r['wave']),
    bounds: JSON.parse(r['bounds'] as string) as number[],
    acceptedWave: num(r['accepted_wave']),
    total: num(r['total']),
    createdAt: num(r['created_at']),
    startedAt: numOrNull(r['started_at']),
    finishedAt: numOrNull(r['finished_at']),
  };
}

export function deviceOf(r: CampaignRow): CampaignDevice {
  return {
    campaignId: num(r['campaign_id']),
    deviceId: r['device_id'] as string,
    seq: num(r['seq']),
    state: r['state'] as DeviceState,
    attempts: num(r['attempts']),
    taskId: numOrNull(r['task_id']),
    reason: (r['reason'] as string | null) ?? null,
    verifyUntil: numOrNull(r['verify_until']),
    startedAt: numOrNull(r['started_at']),
    finishedAt: numOrNull(r['finished_at']),
  };
}

export function countsOf(rows: readonly { state: string; n: unknown }[]): StateCounts {
  const c = emptyCounts();
  for (const r of rows) c[r.state as DeviceState] = Number(r.n);
  return c;
}

/** The file a campaign installs, kept in a column of its own (a file in use may not be removed). */
export const fileOf = (spec: CampaignSpec): string | null => (spec.action.kind === 'firmware' ? spec.action.fileId : null);

/** What a wave step writes to the campaign: state, reason, wave, finished_at. */
export function advanceWrite(c: Campaign, step: { kind: 'pause'; reason: string } | { kind: 'next-wave'; wave: number } | { kind: 'done' }, now: number) {
  if (step.kind === 'pause') return { state: 'paused' as const, reason: step.reason, wave: c.wave, finishedAt: null };
  if (step.kind === 'next-wave') return { state: 'running' as const, reason: null, wave: step.wave, finishedAt: null };
  return { state: 'done' as const, reason: null, wave: c.wave, finishedAt: now };
}
