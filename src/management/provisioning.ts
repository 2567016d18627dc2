import type { DeviceRecord } from '../devices/device.js';
import type { Logger } from '../log/logger.js';
import type { CwmpDeviceRepo, CwmpDeviceState } from './cwmp-device-repo.js';
import { fingerprint, keepaliveParameters, type StunAdvert } from './nat-detection.js';
import { FINISHED, type Task } from './task.js';
import type { TaskQueue } from './task-queue.js';

export interface ProvisioningDeps {
  readonly tasks: TaskQueue;
  readonly state: CwmpDeviceRepo;
  /** What to advertise, given the host name the CPE used to reach the CWMP endpoint. */
  readonly stunAdvert: (host: string) => StunAdvert;
  readonly log: Logger;
}

/**
 * Seed 001 step 2: a device found behind NAT gets our STUN and connection-request settings, once per
 * distinct set of values (a config or credentials change provisions again). An auto-registered device
 * first gets the CWMP password we generated for it.
 */
export class Provisioning {
  readonly #d: ProvisioningDeps;

  constructor(deps: ProvisioningDeps) {
    this.#d = deps;
    deps.tasks.subscribe({ finished: (t) => this.#finished(t) });
  }

  onInform(device: DeviceRecord, state: CwmpDeviceState, host: string, registered: boolean): void {
    const ms = `${state.dataModel}ManagementServer.`;
    if (registered) {
      this.#d.tasks.queue(device.id, { kind: 'setParameterValues', values: [{ name: `${ms}Password`, value: device.credentials.cwmpPassword, type: 'xsd:string' }] }, { origin: 'provisioning' });
    }
    if (!state.behindNat) return;
    const values = keepaliveParameters(state.dataModel, device.credentials, this.#d.stunAdvert(host));
    if (state.stunProvisioned === fingerprint(values) || this.#pending(device.id)) return;
    this.#d.log.info({ device: device.id, natId: state.natId }, 'device behind NAT: provisioning keepalive parameters');
    this.#d.tasks.queue(device.id, { kind: 'setParameterValues', values }, { origin: 'provisioning' });
  }

  #pending(deviceId: string): boolean {
    return this.#d.tasks.ofDevice(deviceId, undefined, 50).some((t) => t.origin === 'provisioning' && !FINISHED.has(t.status) && isKeepaliveSet(t));
  }

  #finished(t: Task): void {
    if (t.origin !== 'provisioning' || t.status !== 'done' || !isKeepaliveSet(t) || t.request.kind !== 'setParameterValues') return;
    this.#d.state.setStunProvisioned(t.deviceId, fingerprint(t.request.values));
  }
}

const isKeepaliveSet = (t: Task): boolean => t.request.kind === 'setParameterValues' && t.request.values.some((v) => v.name.endsWith('ManagementServer.STUNEnable'));
