import type { CredentialRotation, DeviceRecord } from '../devices/device.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { Logger } from '../log/logger.js';
import type { CwmpDeviceRepo, CwmpDeviceState } from './cwmp-device-repo.js';
import type { ParameterValue } from './cwmp-soap.js';
import { connectionRequestParameters, cwmpLoginParameters, keepaliveParameters, type StunAdvert } from './nat-detection.js';
import type { ProvisioningFingerprints } from './provisioning-fingerprints.js';
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
  /** Fingerprints of what was provisioned, keyed under the master key. */
  readonly fingerprints: ProvisioningFingerprints;
  readonly log: Logger;
}

/** A fingerprint an older stbd stored unkeyed, to be stored again keyed. */
interface Rekey {
  readonly kind: 'stun' | 'credentials';
  readonly fingerprint: string;
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
    const rekeys: Rekey[] = [];
    const values = this.#wanted(device, current, host, pending, rekeys);
    await this.#rekey(device.id, rekeys);
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
    const rekeys: Rekey[] = [];
    const values = this.#wanted(device, state, '', undefined, rekeys);
    await this.#rekey(device.id, rekeys);
    if (!values.some(isStun) || (await this.#pending(device.id))) return false;
    await this.#d.tasks.queue(device.id, { kind: 'setParameterValues', values }, { origin: 'provisioning' });
    return true;
  }

  /** `rekeys` gets the fingerprints stored unkeyed that still stand for what would be sent. */
  #wanted(device: DeviceRecord, state: CwmpDeviceState, host: string, rotation: CredentialRotation | undefined, rekeys: Rekey[]): ParameterValue[] {
    const root = state.dataModel;
    const c = device.credentials;
    const f = this.#d.fingerprints;
    const same = (kind: Rekey['kind'], values: readonly ParameterValue[], stored: string | null) => {
      const match = f.compare(values, stored);
      if (match === 'unkeyed') rekeys.push({ kind, fingerprint: f.of(values) });
      return match !== 'changed';
    };
    const cr = connectionRequestParameters(root, c.crUsername, rotation?.crPassword ?? c.crPassword);
    const values: ParameterValue[] = [];
    if (rotation) values.push(...cwmpLoginParameters(root, c.cwmpUsername, rotation.cwmpPassword));
    const crWanted = rotation !== undefined || (device.crGenerated && !same('credentials', cr, state.credentialsProvisioned));
    // Behind NAT the connection-request credentials belong to the keepalive set: UDP connection requests
    // are signed with them.
    const keepaliveOf = (advert: StunAdvert) => [...keepaliveParameters(root, c, advert), ...cr];
    const keepalive = state.behindNat ? keepaliveOf(this.#d.stunAdvert(host, device.id, (a) => f.compare(keepaliveOf(a), state.stunProvisioned) !== 'changed')) : [];
    if (keepalive.length > 0 && !same('stun', keepalive, state.stunProvisioned)) values.push(...keepalive);
    else if (crWanted) values.push(...cr);
    return values;
  }

  async #rekey(deviceId: string, rekeys: readonly Rekey[]): Promise<void> {
    for (const r of rekeys) {
      if (r.kind === 'stun') await this.#d.state.setStunProvisioned(deviceId, r.fingerprint);
      else await this.#d.state.setCredentialsProvisioned(deviceId, r.fingerprint);
    }
  }

  async #pending(deviceId: string): Promise<boolean> {
    return (await this.#d.tasks.ofDevice(deviceId, undefined, 50)).some((t) => t.origin === 'provisioning' && !FINISHED.has(t.status) && t.request.kind === 'setParameterValues');
  }

  async #accepted(deviceId: string, values: readonly ParameterValue[]): Promise<void> {
    const { state } = this.#d;
    const cr = values.filter(isCr);
    const { fingerprints } = this.#d;
    if (cr.length > 0) await state.setCredentialsProvisioned(deviceId, fingerprints.of(cr));
    if (values.some(isStun)) await state.setStunProvisioned(deviceId, fingerprints.of(values.filter((v) => isStun(v) || isCr(v))));
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
