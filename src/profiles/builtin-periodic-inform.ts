import { createHash } from 'node:crypto';
import { PERIODIC_INFORM_PROFILE, type Profile } from './profile.js';
import { periodicInformTime } from './periodic-inform-time.js';

/** Below any priority a profile file may have: an operator's profile that sets these parameters wins. */
export const PERIODIC_INFORM_PRIORITY = -2_000_000;

/**
 * The built-in profile ([cwmp] periodic_inform_profile): every device informs periodically, every
 * [cwmp] periodic_inform_interval, at a time of the interval of its own (a hash of its id), so a fleet never
 * calls in at once after an outage. Built per device (the time is the device's), under its data model's root.
 */
export class PeriodicInformProfile {
  readonly #intervalSeconds: number;
  readonly #revision: string;

  constructor(intervalMs: number) {
    this.#intervalSeconds = Math.max(1, Math.round(intervalMs / 1000));
    this.#revision = createHash('sha256').update(`${PERIODIC_INFORM_PROFILE}:${this.#intervalSeconds}`).digest('hex').slice(0, 32);
  }

  for(deviceId: string, root: string): Profile {
    const ms = `${root}ManagementServer.`;
    return {
      name: PERIODIC_INFORM_PROFILE,
      selector: '',
      condition: undefined,
      priority: PERIODIC_INFORM_PRIORITY,
      events: undefined,
      values: [
        { name: `${ms}PeriodicInformEnable`, template: 'true', type: 'xsd:boolean' },
        { name: `${ms}PeriodicInformInterval`, template: String(this.#intervalSeconds), type: 'xsd:unsignedInt' },
        { name: `${ms}PeriodicInformTime`, template: periodicInformTime(deviceId, this.#intervalSeconds), type: 'xsd:dateTime' },
      ],
      notifications: [],
      revision: this.#revision,
      builtin: true,
    };
  }
}
