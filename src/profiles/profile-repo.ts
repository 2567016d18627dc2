import { columnContext } from '../sealed-text.js';
import type { ProfileFaultInfo, ProfileState, ProfileStatus } from './profile.js';

/** A profile as stored: the file as the operator added it (parsed again on load) and its revision. */
export interface StoredProfile {
  readonly name: string;
  readonly source: string;
  readonly revision: string;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** What an evaluation reads of one device, in one unit of work. */
export interface EvaluationContext {
  readonly statuses: readonly ProfileStatus[];
  /** Last known values of the names asked for (absent: not known). */
  readonly values: ReadonlyMap<string, string>;
}

export type ProfileCounts = Readonly<Record<ProfileState, number>>;

/**
 * Profiles and each device's standing with them, one method per unit of work (profile-rules.ts decides what
 * a task's end means). Every change of the profiles adds one to a catalog version, so processes sharing a
 * store can tell cheaply that theirs is out of date.
 */
export interface ProfileRepo {
  /** Adds or replaces a profile; true when it replaced one. */
  put(p: Omit<StoredProfile, 'createdAt' | 'updatedAt'>, at: number): Promise<boolean>;
  /** Removes a profile and every device's status for it; false when there was none. */
  remove(name: string): Promise<boolean>;
  all(): Promise<StoredProfile[]>;
  get(name: string): Promise<StoredProfile | undefined>;
  /** The catalog version (one row, read on a timer). */
  version(): Promise<number>;
  context(deviceId: string, names: readonly string[]): Promise<EvaluationContext>;
  /** Writes these statuses (insert or replace per device and profile). */
  setStatuses(rows: readonly ProfileStatus[]): Promise<void>;
  /** Forgets a device's statuses for profiles that no longer match it. */
  dropStatuses(deviceId: string, profiles: readonly string[]): Promise<void>;
  /** The statuses a task carries the work of (its values or its attributes). */
  ofTask(deviceId: string, taskId: number): Promise<ProfileStatus[]>;
  counts(profile: string): Promise<ProfileCounts>;
  /** Devices in fault for the profile, by device id, after `after`. */
  faults(profile: string, after: string, limit: number): Promise<ProfileStatus[]>;
  /** The device's generated secret ({secret}), created with `generate` the first time; stored sealed. */
  secret(deviceId: string, generate: () => string): Promise<string>;
}

/** The row shape both engines store statuses in. */
export interface StatusRow {
  device_id: string;
  profile: string;
  revision: string;
  state: string;
  task_id: number | string | null;
  attributes_task_id: number | string | null;
  fault: string | null;
  updated_at: number | string;
}

export const statusOf = (r: StatusRow): ProfileStatus => ({
  deviceId: r.device_id,
  profile: r.profile,
  revision: r.revision,
  state: r.state as ProfileState,
  taskId: r.task_id === null ? null : Number(r.task_id),
  attributesTaskId: r.attributes_task_id === null ? null : Number(r.attributes_task_id),
  fault: r.fault === null ? null : (JSON.parse(r.fault) as ProfileFaultInfo),
  updatedAt: Number(r.updated_at),
});

export const countsOf = (rows: readonly { state: string; n: number | string }[]): ProfileCounts => {
  const c = { compliant: 0, pending: 0, fault: 0 };
  for (const r of rows) c[r.state as ProfileState] = Number(r.n);
  return c;
};

export const SECRET_CONTEXT = (deviceId: string): string => columnContext('profile_secrets', 'sealed', deviceId);
