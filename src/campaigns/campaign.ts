import type { ParameterValue } from '../management/cwmp-soap.js';

/**
 * draft → running ⇄ paused → done | cancelled. A running campaign starts its devices; a paused one only
 * records how the devices already in progress end.
 */
export type CampaignState = 'draft' | 'running' | 'paused' | 'done' | 'cancelled';
export const CAMPAIGN_STATES = ['draft', 'running', 'paused', 'done', 'cancelled'] as const satisfies readonly CampaignState[];
export const CAMPAIGN_OVER: ReadonlySet<CampaignState> = new Set(['done', 'cancelled']);

/** One device of a campaign. in-progress: its task is queued, running, or its new firmware is being verified. */
export type DeviceState = 'pending' | 'in-progress' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';
export const DEVICE_STATES = ['pending', 'in-progress', 'succeeded', 'failed', 'skipped', 'cancelled'] as const satisfies readonly DeviceState[];

/** What a campaign does to each device: install a firmware file, or set parameters. */
export type CampaignAction =
  | { readonly kind: 'firmware'; readonly fileId: string }
  | { readonly kind: 'set'; readonly values: readonly ParameterValue[] };

/** A maintenance window in the campaign's time zone; `end` before `start` crosses midnight. */
export interface MaintenanceWindow {
  /** Minutes after midnight. */
  readonly start: number;
  readonly end: number;
}

/** 0 Sunday … 6 Saturday, as Date.getDay. */
export type Weekday = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** How a campaign runs; fixed at creation. */
export interface CampaignSpec {
  readonly where: string;
  readonly action: CampaignAction;
  /** Devices in the canary, 0 for none: they must all succeed before wave 1. */
  readonly canary: number;
  /** Cumulative fractions of the devices after the canary, ascending, the last 1. */
  readonly waves: readonly number[];
  readonly concurrency: number;
  /** Undefined: all day. */
  readonly window: MaintenanceWindow | undefined;
  /** IANA time zone of the window and the days. */
  readonly timezone: string;
  /** The days a window may open on (the day it opens, for a window crossing midnight). */
  readonly days: readonly Weekday[];
  /** A wave whose failed devices pass this fraction of the wave pauses the campaign. */
  readonly stopFailureRate: number;
  /** Tries per device (a failed try goes back to pending until this many were made). */
  readonly maxAttempts: number;
}

export interface Campaign {
  readonly id: number;
  readonly name: string;
  readonly state: CampaignState;
  /** Why it is paused (by the operator, or by the stop rule). */
  readonly reason: string | null;
  readonly spec: CampaignSpec;
  /** The firmware file's version the devices must report (firmware campaigns). */
  readonly targetVersion: string | null;
  /** The wave being worked on: 0 is the canary (empty when there is none). */
  readonly wave: number;
  /** The exclusive upper `seq` of each wave, the canary first. Empty until the campaign starts. */
  readonly bounds: readonly number[];
  /** The wave whose stop rule the operator overrode by resuming (-1: none). */
  readonly acceptedWave: number;
  readonly total: number;
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

export interface CampaignDevice {
  readonly campaignId: number;
  readonly deviceId: string;
  /** Order in the campaign: waves are ranges of it. */
  readonly seq: number;
  readonly state: DeviceState;
  /** Tries started. */
  readonly attempts: number;
  readonly taskId: number | null;
  readonly reason: string | null;
  /** Set while a firmware device's new version is awaited (after its TransferComplete). */
  readonly verifyUntil: number | null;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

/** How a device's try ended. */
export type DeviceOutcome =
  | { readonly kind: 'succeeded' }
  | { readonly kind: 'failed'; readonly reason: string }
  | { readonly kind: 'skipped'; readonly reason: string }
  | { readonly kind: 'cancelled'; readonly reason: string };

export type StateCounts = Record<DeviceState, number>;

export const emptyCounts = (): StateCounts => ({ pending: 0, 'in-progress': 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0 });
