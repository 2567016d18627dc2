import { createHash } from 'node:crypto';
import type { DataModelRoot } from '../management/task.js';
import { PERIODIC_INFORM_PROFILE, type Profile } from './profile.js';
import { periodicInformTime } from './periodic-inform-time.js';

/** Below any priority a profile file may have: an operator's profile that sets these parameters wins. */
export const PERIODIC_INFORM_PRIORITY = -2_000_000;

/** What stbctl and the API show as the built-in profile's PeriodicInformTime (each device has its own). */
export const OWN_TIME = '(a time of its own per device)';

/**
 * The built-in profile ([cwmp] periodic_inform_profile): every device informs periodically, every
 * [cwmp] periodic_inform_interval, at a time of the interval of its own (a hash of its id), so a fleet never
 * calls in at once after an outage. One profile per data model root, built once (the interval is fixed for
 * the process's life): the Inform path only computes the device's time, when the profile is evaluated.
 */
export class PeriodicInformProfile {
  readonly #intervalSeconds: number;
  readonly #revision: string;
  readonly #byRoot = new Map<DataModelRoot, Profile>();

  constructor(intervalMs: number) {
    this.#intervalSeconds = Math.max(1, Math.round(intervalMs / 1000));
    this.#revision = createHash('sha256').update(`${PERIODIC_INFORM_PROFILE}:${this.#intervalSeconds}`).digest('hex').slice(0, 32);
  }

  /** The profile for devices of this data model (the same object every call). */
  for(root: DataModelRoot): Profile {
    let p = this.#byRoot.get(root);
    if (p === undefined) this.#byRoot.set(root, (p = this.#build(root)));
    return p;
  }

  #build(root: DataModelRoot): Profile {
    const ms = `${root}ManagementServer.`;
    const interval = this.#intervalSeconds;
    return {
      name: PERIODIC_INFORM_PROFILE,
      selector: '',
      condition: undefined,
      priority: PERIODIC_INFORM_PRIORITY,
      events: undefined,
      values: [
        { name: `${ms}PeriodicInformEnable`, template: 'true', type: 'xsd:boolean' },
        { name: `${ms}PeriodicInformInterval`, template: String(interval), type: 'xsd:unsignedInt' },
        { name: `${ms}PeriodicInformTime`, template: OWN_TIME, type: 'xsd:dateTime', perDevice: (deviceId) => periodicInformTime(deviceId, interval) },
      ],
      notifications: [],
      revision: this.#revision,
      builtin: true,
    };
  }
}
