import type { CwmpVersion, ParameterValue } from './cwmp-soap.js';
import type { DataModelRoot, TaskFault } from './task.js';

/** What the last Inform told us about a device, and what we decided from it. */
export interface CwmpDeviceState {
  readonly deviceId: string;
  readonly manufacturer: string;
  readonly oui: string;
  readonly productClass: string;
  readonly serialNumber: string;
  readonly dataModel: DataModelRoot;
  readonly cwmpVersion: CwmpVersion;
  readonly lastInformAt: number;
  readonly lastEvents: readonly string[];
  /** The address the session came from (the NAT's public address when behind NAT). */
  readonly sourceAddress: string;
  readonly connectionRequestUrl: string | null;
  readonly behindNat: boolean;
  /** The NAT gateway's public address, when behind NAT. */
  readonly natId: string | null;
  /** Fingerprint of the STUN settings we last provisioned successfully, or null. */
  readonly stunProvisioned: string | null;
  /** Fingerprint of the connection-request credentials the CPE last accepted, or null. */
  readonly credentialsProvisioned: string | null;
  readonly provisioning: ProvisioningState;
  /** The CPE cannot answer a GetParameterValues of a partial path: subtrees are read name by name. */
  readonly partialPathUnsupported: boolean;
}

/** How provisioning fares: CPE faults in a row, and whether stbd has stopped asking. */
export interface ProvisioningState {
  readonly failures: number;
  readonly stopped: boolean;
  /** The last fault, with the task that carried it. */
  readonly lastFault: (TaskFault & { readonly task: number; readonly at: number }) | null;
}

/** A request the CPE made on its own (AutonomousTransferComplete, DUStateChangeComplete, …). */
export interface CpeEvent {
  readonly at: number;
  readonly method: string;
  readonly detail: unknown;
}

/** What recordInform takes: the Inform's facts (the rest of the state is stbd's own). */
export type InformFacts = Omit<CwmpDeviceState, 'stunProvisioned' | 'credentialsProvisioned' | 'provisioning' | 'partialPathUnsupported'>;

export interface StoredParameter extends ParameterValue {
  readonly updatedAt: number;
}

/**
 * The CWMP session an Inform opens, when sessions are leased cluster-wide (PostgreSQL): taken in the Inform's
 * own unit of work, so opening a session costs no statement of its own.
 */
export interface SessionClaim {
  /** The session's token. */
  readonly session: string;
  readonly now: number;
  /** Until when the lease runs unless renewed. */
  readonly until: number;
}

export interface InformOptions {
  /** A device that has reported another DeviceId before is not written to (its own login, not a factory one). */
  readonly sameIdentity?: true;
  readonly claim?: SessionClaim;
}

/**
 * What recordInform did: recorded the Inform, or refused it for a DeviceId other than the one known.
 * `leased: false`: recorded, but another node's session holds the device (its lease is live).
 * `openTasks`: whether the device had tasks queued or in flight as the Inform was recorded, so that a
 * session with nothing to do ends without reading the queue again.
 */
export type InformRecorded = { readonly recorded: CwmpDeviceState; readonly leased: boolean; readonly openTasks: boolean } | { readonly otherIdentity: DeviceIdentity };

export type DeviceIdentity = { readonly oui: string; readonly productClass: string; readonly serialNumber: string };

/** What a write the cap cut short says (as a task fault or a CPE event). */
export type CapFault = { readonly code: 0; readonly message: string };

/**
 * The per-device CWMP state and the last known parameter values, one method per unit of work. Secret
 * parameters are never stored; at most [cwmp] max_parameters_per_device are stored per device (a count kept
 * by triggers): values of new names beyond it are left out, and what was left out is recorded.
 */
export interface CwmpDeviceRepo {
  get(deviceId: string): Promise<CwmpDeviceState | undefined>;
  /** The DeviceId the device reported in its Informs (checked on every login: only these columns). */
  identity(deviceId: string): Promise<DeviceIdentity | undefined>;
  /**
   * Records an Inform (state and parameters) in one unit of work; values the cap leaves out are recorded as a
   * CPE event. With `sameIdentity`, a device that has reported another DeviceId before is not written to, and
   * that DeviceId is returned instead (the login's check and the write are one step: one round trip). The same
   * unit reads whether tasks are open and, with a `claim` where leases are shared, takes the session's lease.
   */
  recordInform(s: InformFacts, parameters: readonly ParameterValue[], options?: InformOptions): Promise<InformRecorded>;
  setStunProvisioned(deviceId: string, fingerprint: string | null): Promise<void>;
  setCredentialsProvisioned(deviceId: string, fingerprint: string | null): Promise<void>;
  /** The CPE accepted a provisioning task: the run of faults is over. */
  provisioningSucceeded(deviceId: string): Promise<void>;
  /** The CPE faulted a provisioning task; stopped once `maxFailures` are reached in a row. */
  provisioningFailed(deviceId: string, fault: NonNullable<ProvisioningState['lastFault']>, maxFailures: number): Promise<CwmpDeviceState | undefined>;
  /** An operator asks for provisioning again (stbctl provision): the count of faults starts over. */
  retryProvisioning(deviceId: string): Promise<CwmpDeviceState | undefined>;
  setPartialPathUnsupported(deviceId: string, unsupported: boolean): Promise<void>;
  /** Records a request the CPE made on its own; only the newest few per device are kept. */
  recordCpeEvent(deviceId: string, at: number, method: string, detail: unknown): Promise<void>;
  /** The newest CPE requests first. */
  cpeEvents(deviceId: string, limit?: number): Promise<CpeEvent[]>;
  /**
   * Stores values read from the device. With `replacing` (a subtree path ending in '.'), what was known under
   * it and is not in `parameters` any more is forgotten (a refresh).
   * @returns how many values the cap left out (new names beyond [cwmp] max_parameters_per_device)
   */
  putParameters(deviceId: string, parameters: readonly ParameterValue[], at: number, replacing?: string): Promise<number>;
  /** What `left` values the cap left out say (no store access). */
  capFault(left: number): CapFault;
  parameters(deviceId: string, limit?: number): Promise<StoredParameter[]>;
}
