import { redact } from '../secret-names.js';
import type { CpeEvent, CwmpDeviceState, DeviceIdentity, InformFacts, ProvisioningState, StoredParameter } from './cwmp-device-repo.js';
import type { CwmpVersion } from './cwmp-soap.js';
import type { DataModelRoot } from './task.js';

export type Row = Record<string, unknown>;

/** CPE requests kept per device (older ones are dropped). */
export const EVENTS_KEPT = 20;
export const PARAMETERS_SHOWN = 10_000;

export const stateOf = (r: Row): CwmpDeviceState => ({
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

export const identityOf = (r: Row): DeviceIdentity => ({ oui: r['oui'] as string, productClass: r['product_class'] as string, serialNumber: r['serial_number'] as string });
export const eventOf = (r: Row): CpeEvent => ({ at: r['at'] as number, method: r['method'] as string, detail: JSON.parse(r['detail'] as string) as unknown });
export const parameterOf = (r: Row): StoredParameter => ({ name: r['name'] as string, value: r['value'] as string, type: r['type'] as string, updatedAt: r['updated_at'] as number });

/** The values of CWMP_DEVICE_SQL.upsert, in order ($14: whether only a row of the same DeviceId is written). */
export const informColumns = (s: InformFacts, sameIdentity: boolean) =>
  [s.deviceId, s.manufacturer, s.oui, s.productClass, s.serialNumber, s.dataModel, s.cwmpVersion, s.lastInformAt, JSON.stringify(s.lastEvents), s.sourceAddress, s.connectionRequestUrl, s.behindNat ? 1 : 0, s.natId, sameIdentity ? 1 : 0] as const;

/** A CPE event's detail as stored: secrets masked. */
export const eventDetail = (detail: unknown): string => JSON.stringify(redact(detail));

/** Unchanged values are not rewritten: periodic Informs repeat the same few parameters. */
export const PARAMETER_UPSERT = `ON CONFLICT (device_id, name) DO UPDATE SET value = excluded.value, type = excluded.type, updated_at = excluded.updated_at
  WHERE device_parameters.value IS DISTINCT FROM excluded.value OR device_parameters.type IS DISTINCT FROM excluded.type`;

/** The columns an Inform writes, in informColumns' order. */
export const INFORM_COLUMNS = 'device_id, manufacturer, oui, product_class, serial_number, data_model, cwmp_version, last_inform_at, last_events, source_address, cr_url, behind_nat, nat_id';

/** An Inform's state replaces the last one; with $14 = 1 only on a row of the same DeviceId. */
export const INFORM_UPSERT = `ON CONFLICT (device_id) DO UPDATE SET manufacturer = excluded.manufacturer, oui = excluded.oui,
      product_class = excluded.product_class, serial_number = excluded.serial_number, data_model = excluded.data_model,
      cwmp_version = excluded.cwmp_version, last_inform_at = excluded.last_inform_at, last_events = excluded.last_events,
      source_address = excluded.source_address, cr_url = excluded.cr_url, behind_nat = excluded.behind_nat, nat_id = excluded.nat_id
    WHERE $14 = 0 OR (cwmp_devices.oui = excluded.oui AND cwmp_devices.product_class = excluded.product_class AND cwmp_devices.serial_number = excluded.serial_number)`;

/** The statements both engines share, in PostgreSQL's `$n` form (SQLite's repo converts them with forSqlite). */
export const CWMP_DEVICE_SQL = {
  get: 'SELECT * FROM cwmp_devices WHERE device_id = $1',
  identity: 'SELECT oui, product_class, serial_number FROM cwmp_devices WHERE device_id = $1',
  /** $14 = 1: a row with another DeviceId is left as it is, and nothing is returned. */
  upsert: `INSERT INTO cwmp_devices (${INFORM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ${INFORM_UPSERT} RETURNING *`,
  stunProvisioned: 'UPDATE cwmp_devices SET stun_provisioned = $1 WHERE device_id = $2',
  credentialsProvisioned: 'UPDATE cwmp_devices SET credentials_provisioned = $1 WHERE device_id = $2',
  provisioningOk: 'UPDATE cwmp_devices SET provisioning_failures = 0, provisioning_stopped = 0 WHERE device_id = $1',
  provisioningRetry: 'UPDATE cwmp_devices SET provisioning_failures = 0, provisioning_stopped = 0 WHERE device_id = $1 RETURNING *',
  provisioningFault: `UPDATE cwmp_devices SET provisioning_failures = provisioning_failures + 1, provisioning_fault = $1,
      provisioning_stopped = CASE WHEN provisioning_failures + 1 >= $2 THEN 1 ELSE 0 END
    WHERE device_id = $3 RETURNING *`,
  partialPath: 'UPDATE cwmp_devices SET partial_path_unsupported = $1 WHERE device_id = $2',
  addEvent: 'INSERT INTO cpe_events (device_id, at, method, detail) VALUES ($1, $2, $3, $4)',
  trimEvents: 'DELETE FROM cpe_events WHERE device_id = $1 AND id <= (SELECT id FROM cpe_events WHERE device_id = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)',
  events: 'SELECT at, method, detail FROM cpe_events WHERE device_id = $1 ORDER BY id DESC LIMIT $2',
  putParameter: `INSERT INTO device_parameters (device_id, name, value, type, updated_at) VALUES ($1, $2, $3, $4, $5) ${PARAMETER_UPSERT}`,
  /** One statement for a whole batch (PostgreSQL). */
  putParameters: `INSERT INTO device_parameters (device_id, name, value, type, updated_at)
    SELECT $1, p.name, p.value, p.type, $2 FROM unnest($3::text[], $4::text[], $5::text[]) AS p (name, value, type) ${PARAMETER_UPSERT}`,
  parameterCount: 'SELECT parameter_count FROM cwmp_devices WHERE device_id = $1',
  parameters: 'SELECT name, value, type, updated_at FROM device_parameters WHERE device_id = $1 ORDER BY name LIMIT $2',
};
