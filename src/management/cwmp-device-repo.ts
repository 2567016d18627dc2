import { isSecretName, redact } from '../secret-names.js';
import type { Database } from '../store/database.js';
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

/** CPE requests kept per device (older ones are dropped). */
const EVENTS_KEPT = 20;

export interface StoredParameter extends ParameterValue {
  readonly updatedAt: number;
}

type Row = Record<string, unknown>;

const state = (r: Row): CwmpDeviceState => ({
  deviceId: r['device_id'] as string,
  manufacturer: r['manufacturer'] as string,
  oui: r['oui'] as string,
  productClass: r['product_class'] as string,
  serialNumber: r['serial_number'] as string,
  dataModel: r['data_model'] as DataModelRoot,
  cwmpVersion: r['cwmp_version'] as CwmpVersion,
  lastInformAt: r['last_inform_at'] as number,
  lastEvents: JSON.parse(r['last_events'] as string) as string[],
  sourceAddress: r['source_address'] as string,
  connectionRequestUrl: r['cr_url'] as string | null,
  behindNat: r['behind_nat'] === 1,
  natId: r['nat_id'] as string | null,
  stunProvisioned: r['stun_provisioned'] as string | null,
  credentialsProvisioned: r['credentials_provisioned'] as string | null,
  provisioning: {
    failures: r['provisioning_failures'] as number,
    stopped: r['provisioning_stopped'] === 1,
    lastFault: r['provisioning_fault'] ? (JSON.parse(r['provisioning_fault'] as string) as ProvisioningState['lastFault']) : null,
  },
  partialPathUnsupported: r['partial_path_unsupported'] === 1,
});

/**
 * SQL of the per-device CWMP state and the last known parameter values. Secret parameters are never stored;
 * at most `maxParameters` are stored per device (a count kept by triggers): values of new names beyond it are
 * left out, and what was left out is recorded.
 */
export class CwmpDeviceRepo {
  readonly #s;
  readonly #max: number;

  constructor(
    readonly db: Database,
    maxParameters: number,
  ) {
    this.#max = maxParameters;
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(sql);
    this.#s = {
      get: p<[string]>('SELECT * FROM cwmp_devices WHERE device_id = ?'),
      identity: p<[string]>('SELECT oui, product_class, serial_number FROM cwmp_devices WHERE device_id = ?'),
      upsert: p<[string, string, string, string, string, string, string, number, string, string, string | null, number, string | null]>(
        `INSERT INTO cwmp_devices (device_id, manufacturer, oui, product_class, serial_number, data_model, cwmp_version,
           last_inform_at, last_events, source_address, cr_url, behind_nat, nat_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET manufacturer = excluded.manufacturer, oui = excluded.oui,
           product_class = excluded.product_class, serial_number = excluded.serial_number, data_model = excluded.data_model,
           cwmp_version = excluded.cwmp_version, last_inform_at = excluded.last_inform_at, last_events = excluded.last_events,
           source_address = excluded.source_address, cr_url = excluded.cr_url, behind_nat = excluded.behind_nat, nat_id = excluded.nat_id
         RETURNING *`,
      ),
      provisioned: p<[string | null, string]>('UPDATE cwmp_devices SET stun_provisioned = ? WHERE device_id = ?'),
      credentialsProvisioned: p<[string | null, string]>('UPDATE cwmp_devices SET credentials_provisioned = ? WHERE device_id = ?'),
      provisioningOk: p<[string]>(`UPDATE cwmp_devices SET provisioning_failures = 0, provisioning_stopped = 0 WHERE device_id = ?`),
      provisioningRetry: p<[string]>(`UPDATE cwmp_devices SET provisioning_failures = 0, provisioning_stopped = 0 WHERE device_id = ? RETURNING *`),
      provisioningFault: p<[string, number, string]>(
        `UPDATE cwmp_devices SET provisioning_failures = provisioning_failures + 1, provisioning_fault = ?,
           provisioning_stopped = CASE WHEN provisioning_failures + 1 >= ? THEN 1 ELSE 0 END
         WHERE device_id = ? RETURNING *`,
      ),
      partialPath: p<[number, string]>('UPDATE cwmp_devices SET partial_path_unsupported = ? WHERE device_id = ?'),
      addEvent: p<[string, number, string, string]>('INSERT INTO cpe_events (device_id, at, method, detail) VALUES (?, ?, ?, ?)'),
      trimEvents: p<[string, string, number]>(
        `DELETE FROM cpe_events WHERE device_id = ? AND id <= (SELECT id FROM cpe_events WHERE device_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`,
      ),
      events: p<[string, number]>('SELECT at, method, detail FROM cpe_events WHERE device_id = ? ORDER BY id DESC LIMIT ?'),
      // Unchanged values are not rewritten: periodic Informs repeat the same few parameters.
      putParam: p<[string, string, string, string, number]>(
        `INSERT INTO device_parameters (device_id, name, value, type, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, type = excluded.type, updated_at = excluded.updated_at
         WHERE value IS NOT excluded.value OR type IS NOT excluded.type`,
      ),
      deleteSubtree: p<[string, string, string]>('DELETE FROM device_parameters WHERE device_id = ? AND name >= ? AND name < ?'),
      paramCount: p<[string]>('SELECT parameter_count FROM cwmp_devices WHERE device_id = ?'),
      hasParam: p<[string, string]>('SELECT 1 FROM device_parameters WHERE device_id = ? AND name = ?'),
      params: p<[string, number]>('SELECT name, value, type, updated_at FROM device_parameters WHERE device_id = ? ORDER BY name LIMIT ?'),
    };
  }

  get(deviceId: string): CwmpDeviceState | undefined {
    const r = this.#s.get.get(deviceId);
    return r && state(r);
  }

  /** The DeviceId the device reported in its Informs (checked on every login: only these columns). */
  identity(deviceId: string): { readonly oui: string; readonly productClass: string; readonly serialNumber: string } | undefined {
    const r = this.#s.identity.get(deviceId);
    return r && { oui: r['oui'] as string, productClass: r['product_class'] as string, serialNumber: r['serial_number'] as string };
  }

  /** Records an Inform (state and parameters) in one transaction; values the cap leaves out are recorded as a CPE event. */
  recordInform(s: InformFacts, parameters: readonly ParameterValue[]): CwmpDeviceState {
    return this.db.transaction(() => {
      const row = this.#s.upsert.get(
        s.deviceId,
        s.manufacturer,
        s.oui,
        s.productClass,
        s.serialNumber,
        s.dataModel,
        s.cwmpVersion,
        s.lastInformAt,
        JSON.stringify(s.lastEvents),
        s.sourceAddress,
        s.connectionRequestUrl,
        s.behindNat ? 1 : 0,
        s.natId,
      )!;
      const left = this.#put(s.deviceId, parameters, s.lastInformAt, row['parameter_count'] as number);
      if (left > 0) this.recordCpeEvent(s.deviceId, s.lastInformAt, 'Inform', this.capFault(left));
      return state(row);
    })();
  }

  setStunProvisioned(deviceId: string, fingerprint: string | null): void {
    this.#s.provisioned.run(fingerprint, deviceId);
  }

  setCredentialsProvisioned(deviceId: string, fingerprint: string | null): void {
    this.#s.credentialsProvisioned.run(fingerprint, deviceId);
  }

  /** The CPE accepted a provisioning task: the run of faults is over. */
  provisioningSucceeded(deviceId: string): void {
    this.#s.provisioningOk.run(deviceId);
  }

  /** The CPE faulted a provisioning task; stopped once `maxFailures` are reached in a row. */
  provisioningFailed(deviceId: string, fault: NonNullable<ProvisioningState['lastFault']>, maxFailures: number): CwmpDeviceState | undefined {
    const r = this.#s.provisioningFault.get(JSON.stringify(fault), maxFailures, deviceId);
    return r && state(r);
  }

  /** An operator asks for provisioning again (stbctl provision): the count of faults starts over. */
  retryProvisioning(deviceId: string): CwmpDeviceState | undefined {
    const r = this.#s.provisioningRetry.get(deviceId);
    return r && state(r);
  }

  setPartialPathUnsupported(deviceId: string, unsupported: boolean): void {
    this.#s.partialPath.run(unsupported ? 1 : 0, deviceId);
  }

  /** Records a request the CPE made on its own; only the newest few per device are kept. */
  recordCpeEvent(deviceId: string, at: number, method: string, detail: unknown): void {
    this.db.transaction(() => {
      this.#s.addEvent.run(deviceId, at, method, JSON.stringify(redact(detail)));
      this.#s.trimEvents.run(deviceId, deviceId, EVENTS_KEPT);
    })();
  }

  /** The newest CPE requests first. */
  cpeEvents(deviceId: string, limit = EVENTS_KEPT): CpeEvent[] {
    return this.#s.events.all(deviceId, limit).map((r) => ({ at: r['at'] as number, method: r['method'] as string, detail: JSON.parse(r['detail'] as string) as unknown }));
  }

  /**
   * Stores values read from the device. With `replacing` (a subtree path ending in '.'), what was known under
   * it and is not in `parameters` any more is forgotten (a refresh).
   * @returns how many values the cap left out (new names beyond [cwmp] max_parameters_per_device)
   */
  putParameters(deviceId: string, parameters: readonly ParameterValue[], at: number, replacing?: string): number {
    return this.db.transaction(() => {
      if (replacing !== undefined) this.#s.deleteSubtree.run(deviceId, replacing, `${replacing}\uffff`);
      return this.#put(deviceId, parameters, at, (this.#s.paramCount.get(deviceId)?.['parameter_count'] as number | undefined) ?? 0);
    })();
  }

  /** What a write the cap cut short says (as a task fault or a CPE event). */
  capFault(left: number): { readonly code: 0; readonly message: string } {
    return { code: 0, message: `${left} parameter values not stored: the device has ${this.#max} stored, the most [cwmp] max_parameters_per_device allows` };
  }

  parameters(deviceId: string, limit = 10_000): StoredParameter[] {
    return this.#s.params.all(deviceId, limit).map((r) => ({ name: r['name'] as string, value: r['value'] as string, type: r['type'] as string, updatedAt: r['updated_at'] as number }));
  }

  /** `stored`: how many the device has now. Values of names it has are always updated. */
  #put(deviceId: string, parameters: readonly ParameterValue[], at: number, stored: number): number {
    const shown = parameters.filter((p) => !isSecretName(p.name));
    if (stored + shown.length <= this.#max) {
      for (const p of shown) this.#s.putParam.run(deviceId, p.name, p.value, p.type, at);
      return 0;
    }
    let room = this.#max - stored;
    let left = 0;
    for (const p of shown) {
      const known = this.#s.hasParam.get(deviceId, p.name) !== undefined;
      if (!known && room <= 0) {
        left++;
        continue;
      }
      if (!known) room--;
      this.#s.putParam.run(deviceId, p.name, p.value, p.type, at);
    }
    return left;
  }
}
