import type { CredentialRotation, DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log/logger.js';
import type { CwmpDeviceRepo, CwmpDeviceState } from './cwmp-device-repo.js';
import type { ParameterValue } from './cwmp-soap.js';
import { connectionRequestParameters, cwmpLoginParameters, fingerprint, keepaliveParameters, type StunAdvert } from './nat-detection.js';
import { FINISHED, type Task } from './task.js';
import type { TaskQueue } from './task-queue.js';

export interface ProvisioningDeps {
  readonly tasks: TaskQueue;
  readonly state: CwmpDeviceRepo;
  readonly registry: Pick<DeviceRegistry, 'rotationOf' | 'commitRotation'>;
  /**
   * What to advertise, given the host name the CPE used to reach the CWMP endpoint, the device, and whether an
   * advert would leave the device as it was provisioned (a cluster keeps an STB on its live home node).
   */
  readonly stunAdvert: (host: string, deviceId: string, fits: (advert: StunAdvert) => boolean) => StunAdvert;
  readonly log: Logger;
}

export interface ProvisioningOptions {
  /** Sessions in a row whose provisioning the CPE faults before stbd stops asking. */
  readonly maxFailures: number;
}

const endsWith = (suffixes: readonly string[]) => (v: ParameterValue) => suffixes.some((s) => v.name.endsWith(`.ManagementServer.${s}`));
const isStun = endsWith(['STUNEnable', 'STUNServerAddress', 'STUNServerPort', 'STUNUsername', 'STUNPassword', 'STUNMinimumKeepAlivePeriod', 'STUNMaximumKeepAlivePeriod']);
const isCr = endsWith(['ConnectionRequestUsername', 'ConnectionRequestPassword']);
const isCwmpPassword = endsWith(['Password']);

/**
 * What stbd itself sets on CPEs, in one SetParameterValues per session, each part once per distinct set of
 * values (config or credentials changes provision again):
 * - credentials being pushed (after a bootstrap or first-use login): ManagementServer.Username/Password;
 * - the connection-request credentials, whenever the CPE may not have them (generated at registration);
 * - behind NAT: the STUN keepalive settings (with the connection-request credentials UDP requests are signed with).
 * A CPE that faults it `maxFailures` sessions in a row is left alone until an operator asks again.
 */
export class Provisioning {
  readonly #d: ProvisioningDeps;
  readonly #o: ProvisioningOptions;

  constructor(deps: ProvisioningDeps, opts: ProvisioningOptions) {
    this.#d = deps;
    this.#o = opts;
    deps.tasks.subscribe({ finished: (t) => this.#finished(t) });
  }

  /**
   * `rotated`: the CPE logged in with the credentials being pushed, so it has them (and their CR pair);
   * `rotation`: what is being pushed, as the login read it.
   */
  async onInform(device: DeviceRecord, state: CwmpDeviceState, host: string, rotated: boolean, rotation: CredentialRotation | undefined): Promise<void> {
    const { registry, log } = this.#d;
    let current = state;
    let pending = rotation;
    if (rotated && pending) {
      if (await registry.commitRotation(device.id, pending.cwmpPassword)) {
        await this.#accepted(device.id, connectionRequestParameters(state.dataModel, device.credentials.crUsername, pending.crPassword));
        current = (await this.#d.state.get(device.id)) ?? state;
        pending = undefined;
      } else pending = await registry.rotationOf(device.id); // another rotation took its place meanwhile
    }
    // Most Informs need nothing: decide that from memory and the state row before looking at the queue.
    const values = this.#wanted(device, current, host, pending);
    if (values.length === 0 || current.provisioning.stopped || (await this.#pending(device.id))) return;
    log.info({ device: device.id, natId: current.natId, parameters: values.length }, 'provisioning the device');
    await this.#d.tasks.queue(device.id, { kind: 'setParameterValues', values }, { origin: 'provisioning' });
  }

  /**
   * Queues the STUN settings of the node the device is steered to now (a drain moves it off its node): false when
   * nothing changes for it (not behind NAT, already there, or a provisioning task is open).
   */
  async rehome(device: DeviceRecord): Promise<boolean> {
    const state = await this.#d.state.get(device.id);
    if (!state?.behindNat || state.provisioning.stopped) return false;
    const values = this.#wanted(device, state, '', undefined);
    if (!values.some(isStun) || (await this.#pending(device.id))) return false;
    await this.#d.tasks.queue(device.id, { kind: 'setParameterValues', values }, { origin: 'provisioning' });
    return true;
  }

  #wanted(device: DeviceRecord, state: CwmpDeviceState, host: string, rotation: CredentialRotation | undefined): ParameterValue[] {
    const root = state.dataModel;
    const c = device.credentials;
    const cr = connectionRequestParameters(root, c.crUsername, rotation?.crPassword ?? c.crPassword);
    const values: ParameterValue[] = [];
    if (rotation) values.push(...cwmpLoginParameters(root, c.cwmpUsername, rotation.cwmpPassword));
    const crWanted = rotation !== undefined || (device.crGenerated && fingerprint(cr) !== state.credentialsProvisioned);
    // Behind NAT the connection-request credentials belong to the keepalive set: UDP connection requests
    // are signed with them.
    const keepaliveOf = (advert: StunAdvert) => [...keepaliveParameters(root, c, advert), ...cr];
    const keepalive = state.behindNat ? keepaliveOf(this.#d.stunAdvert(host, device.id, (a) => fingerprint(keepaliveOf(a)) === state.stunProvisioned)) : [];
    if (keepalive.length > 0 && fingerprint(keepalive) !== state.stunProvisioned) values.push(...keepalive);
    else if (crWanted) values.push(...cr);
    return values;
  }

  async #pending(deviceId: string): Promise<boolean> {
    return (await this.#d.tasks.ofDevice(deviceId, undefined, 50)).some((t) => t.origin === 'provisioning' && !FINISHED.has(t.status) && t.request.kind === 'setParameterValues');
  }

  async #accepted(deviceId: string, values: readonly ParameterValue[]): Promise<void> {
    const { state } = this.#d;
    const cr = values.filter(isCr);
    if (cr.length > 0) await state.setCredentialsProvisioned(deviceId, fingerprint(cr));
    if (values.some(isStun)) await state.setStunProvisioned(deviceId, fingerprint(values.filter((v) => isStun(v) || isCr(v))));
  }

  async #finished(t: Task): Promise<void> {
    if (t.origin !== 'provisioning' || t.request.kind !== 'setParameterValues') return;
    const { state, registry, log } = this.#d;
    if (t.status === 'done') {
      // The values as sent: tasks show their passwords masked.
      const sent = await this.#d.tasks.sendable(t);
      const values = sent.kind === 'setParameterValues' ? sent.values : [];
      const password = values.find(isCwmpPassword);
      if (password && (await registry.commitRotation(t.deviceId, password.value))) log.info({ device: t.deviceId }, 'the CPE accepted its own credentials');
      await this.#accepted(t.deviceId, values);
      await state.provisioningSucceeded(t.deviceId);
    } else if (t.status === 'fault' && t.fault) {
      const s = await state.provisioningFailed(t.deviceId, { ...t.fault, task: t.id, at: t.finishedAt ?? 0 }, this.#o.maxFailures);
      if (s?.provisioning.stopped) {
        log.warn({ device: t.deviceId, failures: s.provisioning.failures, fault: t.fault }, "provisioning stopped: the CPE refused it; 'stbctl provision' asks again");
      }
    }
  }
}
