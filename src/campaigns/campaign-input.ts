import type { ParameterValue } from '../management/cwmp-soap.js';
import type { CampaignAction, CampaignSpec, MaintenanceWindow, Weekday } from './campaign.js';

/** A campaign definition refused: what is wrong, in words for the operator. Nothing was changed. */
export class CampaignInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CampaignInputError';
  }
}

/** A campaign as the API and stbctl give it: the options' own spelling ("10%,50%,100%", "02:00-05:00", "mon-fri"). */
export interface CampaignInput {
  readonly where: string;
  readonly firmware?: string;
  readonly set?: readonly { readonly name: string; readonly value: string; readonly type?: string }[];
  readonly canary?: number;
  readonly waves?: string;
  readonly concurrency?: number;
  readonly window?: string;
  readonly timezone?: string;
  readonly days?: string;
  readonly stopFailureRate?: string;
  readonly maxAttempts?: number;
}

export const DEFAULTS = { canary: 0, waves: '100%', concurrency: 100, timezone: 'UTC', days: 'mon-sun', stopFailureRate: '5%', maxAttempts: 1 } as const;
export const MAX_CONCURRENCY = 100_000;
export const MAX_CANARY = 10_000;
export const MAX_ATTEMPTS_LIMIT = 10;
export const MAX_WAVES = 20;
/** Names: what a task or a file name may be, short enough for a table. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const fail = (message: string): never => {
  throw new CampaignInputError(message);
};

export function checkName(name: string): string {
  if (!NAME_PATTERN.test(name)) fail(`campaign name ${JSON.stringify(name)}: letters, digits and . _ - (not first), at most 64 characters`);
  return name;
}

/** "12%" or "12.5%" → 0.125. */
export function parsePercent(text: string, what: string): number {
  const m = /^(\d{1,3}(?:\.\d{1,3})?)%$/.exec(text.trim());
  const v = m ? Number(m[1]) : NaN;
  if (!(v >= 0 && v <= 100)) fail(`${what} ${JSON.stringify(text)}: give a percentage such as 5%`);
  return v / 100;
}

/** "10%,50%,100%": cumulative, ascending, ending at 100%. */
export function parseWaves(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length > MAX_WAVES) fail(`--waves: at most ${MAX_WAVES} waves`);
  const waves = parts.map((p) => parsePercent(p, '--waves'));
  for (let i = 0; i < waves.length; i++) {
    if (waves[i]! <= 0) fail('--waves: every wave is above 0%');
    if (i > 0 && waves[i]! <= waves[i - 1]!) fail(`--waves ${JSON.stringify(text)}: cumulative percentages, each above the one before (10%,50%,100%)`);
  }
  if (waves.at(-1) !== 1) fail(`--waves ${JSON.stringify(text)}: the last wave is 100% (every device)`);
  return waves;
}

function minutes(text: string): number {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (m) return Number(m[1]) * 60 + Number(m[2]);
  if (text === '24:00') return 1440;
  return fail(`--window: ${JSON.stringify(text)} is not a time HH:MM`);
}

/** "02:00-05:00"; "22:00-04:00" crosses midnight. */
export function parseWindow(text: string): MaintenanceWindow {
  const m = /^(\S+)-(\S+)$/.exec(text.trim());
  if (!m) fail(`--window ${JSON.stringify(text)}: give HH:MM-HH:MM, e.g. 02:00-05:00`);
  const start = minutes(m![1]!);
  const end = minutes(m![2]!);
  if (start === end || start === 1440) fail(`--window ${JSON.stringify(text)}: the window must not be empty`);
  return { start, end };
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** "mon-fri", "sat,sun", "mon-wed,fri"; a range may wrap (fri-mon). */
export function parseDays(text: string): Weekday[] {
  const day = (d: string): Weekday => {
    const i = DAY_NAMES.indexOf(d.trim().toLowerCase().slice(0, 3) as (typeof DAY_NAMES)[number]);
    if (i < 0 || d.trim().length < 3) fail(`--days ${JSON.stringify(text)}: days are mon tue wed thu fri sat sun, as ranges (mon-fri) or lists (sat,sun)`);
    return i as Weekday;
  };
  const days = new Set<Weekday>();
  for (const part of text.split(',')) {
    const [a, b, ...rest] = part.split('-');
    if (rest.length > 0 || a === undefined) fail(`--days ${JSON.stringify(text)}: one range per comma`);
    const from = day(a!);
    const to = b === undefined ? from : day(b);
    for (let d = from; ; d = ((d + 1) % 7) as Weekday) {
      days.add(d);
      if (d === to) break;
    }
  }
  return [...days].sort();
}

export function checkTimezone(tz: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    fail(`--timezone ${JSON.stringify(tz)} is not a time zone (give an IANA name such as Europe/Paris, or UTC)`);
  }
  return tz;
}

function integer(v: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(v) || v < min || v > max) fail(`${what} ${v}: give a whole number from ${min} to ${max}`);
  return v;
}

function action(input: CampaignInput): CampaignAction {
  const set = input.set ?? [];
  if ((input.firmware === undefined) === (set.length === 0)) fail('give either --firmware FILE_ID or --set NAME=VALUE (one or more), not both');
  if (input.firmware !== undefined) {
    if (input.firmware.length === 0 || input.firmware.length > 128) fail('--firmware: give a file id');
    return { kind: 'firmware', fileId: input.firmware };
  }
  const seen = new Set<string>();
  const values: ParameterValue[] = set.map((v) => {
    if (!v.name.includes('.') || v.name.length > 256) fail(`--set ${JSON.stringify(v.name)}: give full parameter names such as Device.ManagementServer.PeriodicInformInterval`);
    if (seen.has(v.name)) fail(`--set: ${v.name} is set twice`);
    seen.add(v.name);
    return { name: v.name, value: v.value, type: v.type ?? 'xsd:string' };
  });
  return { kind: 'set', values };
}

/** The spec of a campaign from its input, defaults filled. @throws CampaignInputError */
export function campaignSpec(input: CampaignInput): CampaignSpec {
  if (input.where.trim().length === 0) fail('--where: give a selector (see docs/selectors.md)');
  return {
    where: input.where,
    action: action(input),
    canary: integer(input.canary ?? DEFAULTS.canary, '--canary', 0, MAX_CANARY),
    waves: parseWaves(input.waves ?? DEFAULTS.waves),
    concurrency: integer(input.concurrency ?? DEFAULTS.concurrency, '--concurrency', 1, MAX_CONCURRENCY),
    window: input.window === undefined ? undefined : parseWindow(input.window),
    timezone: checkTimezone(input.timezone ?? DEFAULTS.timezone),
    days: parseDays(input.days ?? DEFAULTS.days),
    stopFailureRate: parsePercent(input.stopFailureRate ?? DEFAULTS.stopFailureRate, '--stop-failure-rate'),
    maxAttempts: integer(input.maxAttempts ?? DEFAULTS.maxAttempts, '--max-attempts', 1, MAX_ATTEMPTS_LIMIT),
  };
}

const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** The window as the operator wrote it. */
export const formatWindow = (w: MaintenanceWindow | undefined): string => (w ? `${hhmm(w.start)}-${hhmm(w.end)}` : 'all day');

export const formatDays = (days: readonly Weekday[]): string => (days.length === 7 ? 'every day' : days.map((d) => DAY_NAMES[d]).join(','));
