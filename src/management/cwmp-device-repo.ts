import type { Database } from '../store/database.js';
import type { CwmpVersion, ParameterValue } from './cwmp-soap.js';
import type { DataModelRoot } from './task.js';

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
}

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
});

/** SQL of the per-device CWMP state and the last known parameter values. */
export class CwmpDeviceRepo {
  readonly #s;

  constructor(readonly db: Database) {
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(sql);
    this.#s = {
      get: p<[string]>('SELECT * FROM cwmp_devices WHERE device_id = ?'),
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
      // Unchanged values are not rewritten: periodic Informs repeat the same few parameters.
      putParam: p<[string, string, string, string, number]>(
        `INSERT INTO device_parameters (device_id, name, value, type, updated_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, type = excluded.type, updated_at = excluded.updated_at
         WHERE value IS NOT excluded.value OR type IS NOT excluded.type`,
      ),
      deleteSubtree: p<[string, string, string]>('DELETE FROM device_parameters WHERE device_id = ? AND name >= ? AND name < ?'),
      params: p<[string, number]>('SELECT name, value, type, updated_at FROM device_parameters WHERE device_id = ? ORDER BY name LIMIT ?'),
    };
  }

  get(deviceId: string): CwmpDeviceState | undefined {
    const r = this.#s.get.get(deviceId);
    return r && state(r);
  }

  /** Records an Inform (state and parameters) in one transaction. */
  recordInform(s: Omit<CwmpDeviceState, 'stunProvisioned'>, parameters: readonly ParameterValue[]): CwmpDeviceState {
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
      this.#put(s.deviceId, parameters, s.lastInformAt);
      return state(row);
    })();
  }

  setStunProvisioned(deviceId: string, fingerprint: string | null): void {
    this.#s.provisioned.run(fingerprint, deviceId);
  }

  /**
   * Stores values read from the device. With `replacing` (a subtree path ending in '.'), what was known under
   * it and is not in `parameters` any more is forgotten (a refresh).
   */
  putParameters(deviceId: string, parameters: readonly ParameterValue[], at: number, replacing?: string): void {
    this.db.transaction(() => {
      if (replacing !== undefined) this.#s.deleteSubtree.run(deviceId, replacing, `${replacing}\uffff`);
      this.#put(deviceId, parameters, at);
    })();
  }

  parameters(deviceId: string, limit = 10_000): StoredParameter[] {
    return this.#s.params.all(deviceId, limit).map((r) => ({ name: r['name'] as string, value: r['value'] as string, type: r['type'] as string, updatedAt: r['updated_at'] as number }));
  }

  #put(deviceId: string, parameters: readonly ParameterValue[], at: number): void {
    for (const p of parameters) this.#s.putParam.run(deviceId, p.name, p.value, p.type, at);
  }
}
