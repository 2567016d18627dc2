import type { Database } from '../store/database.js';
import { forSqlite } from '../store/sql-dialect.js';
import { ImmediateUnits } from '../store/sqlite-transaction.js';
import type { CapFault, CpeEvent, CwmpDeviceRepo, CwmpDeviceState, DeviceIdentity, InformFacts, InformOptions, InformRecorded, ProvisioningState, StoredParameter } from './cwmp-device-repo.js';
import { CWMP_DEVICE_SQL, EVENTS_KEPT, eventDetail, eventOf, identityOf, informColumns, PARAMETERS_SHOWN, parameterOf, type Row, stateOf } from './cwmp-device-rows.js';
import type { ParameterValue } from './cwmp-soap.js';
import { capFault, capParameters, mayOverflow, storable } from './parameter-cap.js';
import { HAS_OPEN_TASK } from './task-rows.js';

/** The CWMP device state on SQLite: statements prepared once, a unit of more than one statement one BEGIN IMMEDIATE transaction. */
export class SqliteCwmpDeviceRepo implements CwmpDeviceRepo {
  readonly #units: ImmediateUnits;
  readonly #max: number;
  readonly #s;

  constructor(db: Database, maxParameters: number) {
    this.#units = new ImmediateUnits(db);
    this.#max = maxParameters;
    const p = <P extends unknown[]>(sql: string) => db.prepare<P, Row>(forSqlite(sql));
    const q = CWMP_DEVICE_SQL;
    this.#s = {
      get: p<[string]>(q.get),
      identity: p<[string]>(q.identity),
      upsert: p<unknown[]>(q.upsert),
      stunProvisioned: p<[string | null, string]>(q.stunProvisioned),
      credentialsProvisioned: p<[string | null, string]>(q.credentialsProvisioned),
      provisioningOk: p<[string]>(q.provisioningOk),
      provisioningRetry: p<[string]>(q.provisioningRetry),
      provisioningFault: p<[string, number, string]>(q.provisioningFault),
      partialPath: p<[number, string]>(q.partialPath),
      addEvent: p<[string, number, string, string]>(q.addEvent),
      trimEvents: p<[string, string, number]>(q.trimEvents),
      events: p<[string, number]>(q.events),
      putParameter: p<[string, string, string, string, number]>(q.putParameter),
      deleteSubtree: db.prepare<[string, string, string]>('DELETE FROM device_parameters WHERE device_id = ? AND name >= ? AND name < ?'),
      parameterCount: p<[string]>(q.parameterCount),
      hasParameter: p<[string, string]>('SELECT 1 FROM device_parameters WHERE device_id = $1 AND name = $2'),
      parameters: p<[string, number]>(q.parameters),
      openTasks: p<[string]>(`SELECT ${HAS_OPEN_TASK} AS open`),
    };
  }

  async get(deviceId: string): Promise<CwmpDeviceState | undefined> {
    const r = this.#s.get.get(deviceId);
    return r && stateOf(r);
  }

  async identity(deviceId: string): Promise<DeviceIdentity | undefined> {
    const r = this.#s.identity.get(deviceId);
    return r && identityOf(r);
  }

  // One node: no lease to take (the daemon's own map of sessions is the lease).
  recordInform(s: InformFacts, parameters: readonly ParameterValue[], options?: InformOptions): Promise<InformRecorded> {
    return this.#unit(() => {
      const row = this.#s.upsert.get(...informColumns(s, options?.sameIdentity === true));
      // No row: the upsert's guard left a row of another DeviceId as it was.
      if (!row) return { otherIdentity: identityOf(this.#s.identity.get(s.deviceId)!) };
      const left = this.#put(s.deviceId, parameters, s.lastInformAt, row['parameter_count'] as number);
      if (left > 0) this.#event(s.deviceId, s.lastInformAt, 'Inform', this.capFault(left));
      return { recorded: stateOf(row), leased: true, openTasks: this.#s.openTasks.get(s.deviceId)!['open'] === 1 };
    });
  }

  async setStunProvisioned(deviceId: string, fingerprint: string | null): Promise<void> {
    this.#s.stunProvisioned.run(fingerprint, deviceId);
  }

  async setCredentialsProvisioned(deviceId: string, fingerprint: string | null): Promise<void> {
    this.#s.credentialsProvisioned.run(fingerprint, deviceId);
  }

  async provisioningSucceeded(deviceId: string): Promise<void> {
    this.#s.provisioningOk.run(deviceId);
  }

  async provisioningFailed(deviceId: string, fault: NonNullable<ProvisioningState['lastFault']>, maxFailures: number): Promise<CwmpDeviceState | undefined> {
    const r = this.#s.provisioningFault.get(JSON.stringify(fault), maxFailures, deviceId);
    return r && stateOf(r);
  }

  async retryProvisioning(deviceId: string): Promise<CwmpDeviceState | undefined> {
    const r = this.#s.provisioningRetry.get(deviceId);
    return r && stateOf(r);
  }

  async setPartialPathUnsupported(deviceId: string, unsupported: boolean): Promise<void> {
    this.#s.partialPath.run(unsupported ? 1 : 0, deviceId);
  }

  recordCpeEvent(deviceId: string, at: number, method: string, detail: unknown): Promise<void> {
    return this.#unit(() => this.#event(deviceId, at, method, detail));
  }

  async cpeEvents(deviceId: string, limit = EVENTS_KEPT): Promise<CpeEvent[]> {
    return this.#s.events.all(deviceId, limit).map(eventOf);
  }

  putParameters(deviceId: string, parameters: readonly ParameterValue[], at: number, replacing?: string): Promise<number> {
    return this.#unit(() => {
      if (replacing !== undefined) this.#s.deleteSubtree.run(deviceId, replacing, `${replacing}\uffff`);
      return this.#put(deviceId, parameters, at, (this.#s.parameterCount.get(deviceId)?.['parameter_count'] as number | undefined) ?? 0);
    });
  }

  capFault(left: number): CapFault {
    return capFault(left, this.#max);
  }

  async parameters(deviceId: string, limit = PARAMETERS_SHOWN): Promise<StoredParameter[]> {
    return this.#s.parameters.all(deviceId, limit).map(parameterOf);
  }

  /** `stored`: how many the device has now. @returns how many the cap left out */
  #put(deviceId: string, parameters: readonly ParameterValue[], at: number, stored: number): number {
    const values = storable(parameters);
    const known = new Set(mayOverflow(values, stored, this.#max) ? values.filter((p) => this.#s.hasParameter.get(deviceId, p.name) !== undefined).map((p) => p.name) : []);
    const { write, left } = capParameters(values, stored, this.#max, known);
    for (const p of write) this.#s.putParameter.run(deviceId, p.name, p.value, p.type, at);
    return left;
  }

  #event(deviceId: string, at: number, method: string, detail: unknown): void {
    this.#s.addEvent.run(deviceId, at, method, eventDetail(detail));
    this.#s.trimEvents.run(deviceId, deviceId, EVENTS_KEPT);
  }

  #unit<R>(work: () => R): Promise<R> {
    return this.#units.run(work);
  }
}
