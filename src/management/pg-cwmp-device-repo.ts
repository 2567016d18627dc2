import type pg from 'pg';
import { advisoryLock, advisoryLockCall, inTransaction, named } from '../store/postgres/pg-transaction.js';
import type { CapFault, CpeEvent, CwmpDeviceRepo, CwmpDeviceState, DeviceIdentity, InformFacts, InformOptions, InformRecorded, ProvisioningState, StoredParameter } from './cwmp-device-repo.js';
import { CWMP_DEVICE_SQL, EVENTS_KEPT, eventDetail, eventOf, identityOf, INFORM_COLUMNS, INFORM_UPSERT, informColumns, PARAMETER_UPSERT, PARAMETERS_SHOWN, parameterOf, type Row, stateOf } from './cwmp-device-rows.js';
import type { ParameterValue } from './cwmp-soap.js';
import { capFault, capParameters, mayOverflow, storable } from './parameter-cap.js';
import { leaseClaim } from './pg-session-lease-repo.js';
import { HAS_OPEN_TASK } from './task-rows.js';

const S = CWMP_DEVICE_SQL;
const Q = {
  // The cap reads a device's count before it writes, and the event trim counts what is kept: a transaction-scoped
  // advisory lock per device makes these units of one device go one after the other (a device may have no
  // cwmp_devices row to lock yet).
  lock: advisoryLock('cwmp_lock_device', 'cwmp-device'),
  get: named('cwmp_get', S.get),
  identity: named('cwmp_identity', S.identity),
  // An Inform in one statement (one round trip, its own transaction): the device's lock, the state, and its
  // parameters when they cannot pass the cap ($18 = the cap less their number, so the rule in parameter-cap.ts
  // needs no names; `stored_all` says whether they were written). The lock is taken by the row the upsert
  // reads from, so before it writes; the upsert and the parameter writes take the latest committed rows
  // (ON CONFLICT), not the statement's snapshot, which predates the lock. With a claim ($20 the session), the
  // session's lease is taken too ($19 node, $21 until, $22 now); `open_tasks` spares an empty session its read
  // of the queue.
  inform: named(
    'cwmp_inform',
    `WITH locked AS (SELECT ${advisoryLockCall('cwmp-device', '$1')}),
    up AS (INSERT INTO cwmp_devices (${INFORM_COLUMNS})
        SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::bigint, $9::text, $10::text, $11::text, $12::int, $13::text FROM locked
        ${INFORM_UPSERT} RETURNING *),
    put AS (INSERT INTO device_parameters (device_id, name, value, type, updated_at)
        SELECT up.device_id, p.name, p.value, p.type, up.last_inform_at FROM up, unnest($15::text[], $16::text[], $17::text[]) AS p (name, value, type)
        WHERE up.parameter_count <= $18 ${PARAMETER_UPSERT}),
    lease AS (${leaseClaim('SELECT up.device_id, $19::text, $20::text, $21::bigint FROM up WHERE $20::text IS NOT NULL', '$22::bigint')})
    SELECT *, parameter_count <= $18 AS stored_all, ($20::text IS NULL OR EXISTS (SELECT 1 FROM lease)) AS leased, ${HAS_OPEN_TASK} AS open_tasks FROM up`,
  ),
  stunProvisioned: named('cwmp_stun_provisioned', S.stunProvisioned),
  credentialsProvisioned: named('cwmp_credentials_provisioned', S.credentialsProvisioned),
  provisioningOk: named('cwmp_provisioning_ok', S.provisioningOk),
  provisioningRetry: named('cwmp_provisioning_retry', S.provisioningRetry),
  provisioningFault: named('cwmp_provisioning_fault', S.provisioningFault),
  partialPath: named('cwmp_partial_path', S.partialPath),
  addEvent: named('cwmp_add_event', S.addEvent),
  trimEvents: named('cwmp_trim_events', S.trimEvents),
  events: named('cwmp_events', S.events),
  putParameters: named('cwmp_put_parameters', S.putParameters),
  // starts_with, not a range: under a linguistic collation '.' does not sort as its byte does.
  deleteSubtree: named('cwmp_delete_subtree', 'DELETE FROM device_parameters WHERE device_id = $1 AND starts_with(name, $2)'),
  parameterCount: named('cwmp_parameter_count', S.parameterCount),
  known: named('cwmp_known_parameters', 'SELECT name FROM device_parameters WHERE device_id = $1 AND name = ANY($2)'),
  parameters: named('cwmp_parameters', S.parameters),
};

/** The CWMP device state on PostgreSQL: single statements, or one transaction under the device's advisory lock. */
export class PgCwmpDeviceRepo implements CwmpDeviceRepo {
  constructor(
    private readonly pool: pg.Pool,
    private readonly maxParameters: number,
    /** The node whose sessions' leases an Inform's claim takes. */
    private readonly nodeId: string,
  ) {}

  async get(deviceId: string): Promise<CwmpDeviceState | undefined> {
    return this.#state(this.pool, Q.get([deviceId]));
  }

  async identity(deviceId: string): Promise<DeviceIdentity | undefined> {
    const r = (await this.pool.query<Row>(Q.identity([deviceId]))).rows[0];
    return r && identityOf(r);
  }

  async recordInform(s: InformFacts, parameters: readonly ParameterValue[], options?: InformOptions): Promise<InformRecorded> {
    const values = storable(parameters);
    const c = options?.claim;
    const columns = [
      ...informColumns(s, options?.sameIdentity === true),
      values.map((p) => p.name),
      values.map((p) => p.value),
      values.map((p) => p.type),
      this.maxParameters - values.length,
      this.nodeId,
      c?.session ?? null,
      c?.until ?? null,
      c?.now ?? null,
    ];
    const row = (await this.pool.query<Row>(Q.inform(columns))).rows[0];
    // No row: the upsert's guard left a row of another DeviceId as it was.
    if (!row) return { otherIdentity: (await this.identity(s.deviceId))! };
    // Values that may pass the cap (rare: a device near it) are written as a unit of their own, name by name.
    if (!row['stored_all']) {
      await this.#unit(s.deviceId, async (c) => {
        const count = (await c.query<Row>(Q.parameterCount([s.deviceId]))).rows[0]?.['parameter_count'] as number | undefined;
        const left = await this.#put(c, s.deviceId, values, s.lastInformAt, count ?? 0);
        if (left > 0) await this.#event(c, s.deviceId, s.lastInformAt, 'Inform', this.capFault(left));
      });
    }
    return { recorded: stateOf(row), leased: row['leased'] === true, openTasks: row['open_tasks'] === true };
  }

  async setStunProvisioned(deviceId: string, fingerprint: string | null): Promise<void> {
    await this.pool.query(Q.stunProvisioned([fingerprint, deviceId]));
  }

  async setCredentialsProvisioned(deviceId: string, fingerprint: string | null): Promise<void> {
    await this.pool.query(Q.credentialsProvisioned([fingerprint, deviceId]));
  }

  async provisioningSucceeded(deviceId: string): Promise<void> {
    await this.pool.query(Q.provisioningOk([deviceId]));
  }

  provisioningFailed(deviceId: string, fault: NonNullable<ProvisioningState['lastFault']>, maxFailures: number): Promise<CwmpDeviceState | undefined> {
    // One UPDATE: the count and the stop decision are taken from the row it locks.
    return this.#state(this.pool, Q.provisioningFault([JSON.stringify(fault), maxFailures, deviceId]));
  }

  retryProvisioning(deviceId: string): Promise<CwmpDeviceState | undefined> {
    return this.#state(this.pool, Q.provisioningRetry([deviceId]));
  }

  async setPartialPathUnsupported(deviceId: string, unsupported: boolean): Promise<void> {
    await this.pool.query(Q.partialPath([unsupported ? 1 : 0, deviceId]));
  }

  recordCpeEvent(deviceId: string, at: number, method: string, detail: unknown): Promise<void> {
    return this.#unit(deviceId, (c) => this.#event(c, deviceId, at, method, detail));
  }

  async cpeEvents(deviceId: string, limit = EVENTS_KEPT): Promise<CpeEvent[]> {
    return (await this.pool.query<Row>(Q.events([deviceId, limit]))).rows.map(eventOf);
  }

  putParameters(deviceId: string, parameters: readonly ParameterValue[], at: number, replacing?: string): Promise<number> {
    return this.#unit(deviceId, async (c) => {
      if (replacing !== undefined) await c.query(Q.deleteSubtree([deviceId, replacing]));
      const count = (await c.query<Row>(Q.parameterCount([deviceId]))).rows[0]?.['parameter_count'] as number | undefined;
      return this.#put(c, deviceId, parameters, at, count ?? 0);
    });
  }

  capFault(left: number): CapFault {
    return capFault(left, this.maxParameters);
  }

  async parameters(deviceId: string, limit = PARAMETERS_SHOWN): Promise<StoredParameter[]> {
    return (await this.pool.query<Row>(Q.parameters([deviceId, limit]))).rows.map(parameterOf);
  }

  /** `stored`: how many the device has now. One statement for the names it knows, one for the writes. @returns how many the cap left out */
  async #put(c: pg.PoolClient, deviceId: string, parameters: readonly ParameterValue[], at: number, stored: number): Promise<number> {
    const values = storable(parameters);
    const known = mayOverflow(values, stored, this.maxParameters) ? (await c.query<{ name: string }>(Q.known([deviceId, values.map((p) => p.name)]))).rows.map((r) => r.name) : [];
    const { write, left } = capParameters(values, stored, this.maxParameters, new Set(known));
    if (write.length > 0) await c.query(Q.putParameters([deviceId, at, write.map((p) => p.name), write.map((p) => p.value), write.map((p) => p.type)]));
    return left;
  }

  async #event(c: pg.PoolClient, deviceId: string, at: number, method: string, detail: unknown): Promise<void> {
    await c.query(Q.addEvent([deviceId, at, method, eventDetail(detail)]));
    await c.query(Q.trimEvents([deviceId, deviceId, EVENTS_KEPT]));
  }

  async #state(q: pg.Pool | pg.PoolClient, query: pg.QueryConfig): Promise<CwmpDeviceState | undefined> {
    const r = (await q.query<Row>(query)).rows[0];
    return r && stateOf(r);
  }

  #unit<R>(deviceId: string, work: (c: pg.PoolClient) => Promise<R>): Promise<R> {
    return inTransaction(this.pool, async (c) => {
      await c.query(Q.lock([deviceId]));
      return work(c);
    });
  }
}
