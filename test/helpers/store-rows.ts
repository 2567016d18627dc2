import pg from 'pg';
import type { Database } from '../../src/store/database.js';

type Rows = Array<readonly [table: string, row: Record<string, unknown>]>;

/** Every byte value, for BLOB/BYTEA columns. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/**
 * A row for every table of the schema (in an order foreign keys accept), about device `d`; `n` makes the
 * keys of one call differ from another's. Values reach for what engines read differently: integers past
 * 2^53, empty and every-byte blobs, '' beside NULL, text beyond ASCII, negative numbers.
 */
export function exampleRows(d: string, n: number): Rows {
  const big = 2n ** 53n + BigInt(2 * n + 1); // not a safe JS number
  const at = 1_790_000_000_000 + n;
  return [
    ['devices', { id: d, stun_username: `su-${d}`, stun_password: `sealed-sp-${n}`, cr_username: `cu-${d}`, cr_password: `sealed-cp-${n}`, cwmp_username: `wu-${d}`, cwmp_password: `sealed-wp-${n}`, created_at: at, updated_at: at, credentials_pushed_at: n % 2 ? null : at, cr_generated: n % 2 }],
    ['presence', { device_id: d, last_seen: at, source_address: '203.0.113.7', source_port: 40_000 + n, authenticated_at: null, integrity_variant: 'rfc5389', binding_address: '198.51.100.1', binding_port: 3478, binding_changed_at: at, node: n % 2 ? null : `node-${n}` }],
    ['timer_deadlines', { kind: 'offline', key: d, due_at: 2n ** 62n + BigInt(n), claimed_by: n % 2 ? null : `node-${n}`, claim_until: n % 2 ? null : at }],
    ['nodes', { node_id: `node-${d}`, stun_address: `stun-${n}.example.net:3478`, incarnation: n + 1, started_at: at, heartbeat_at: at, lease_until: at + 15_000, owned: n, online: 0, drain_total: n % 2 ? null : 10, drain_done: n % 2 ? null : 3 }],
    ['cwmp_session_leases', { device_id: d, node_id: `node-${n}`, session: `session-${d}`, lease_until: at }],
    ['ca', { name: `ca-${d}`, cert_pem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', key_sealed: n % 2 ? ALL_BYTES : Buffer.alloc(0), created_at: at }],
    ['cas_certificates', { certificate_id: `cc-${d}`, device_id: d, idempotency_key: `idem-cc-${d}`, serial: `0${n}`, cert_pem: 'pem', key_sealed: ALL_BYTES, issued_at: at, revoked_at: null }],
    ['bindings', { device_id: d, account: `acct-${n}`, state: 'active', via: 'pool', certificate_id: null, bound_at: at }],
    ['pool_entries', { device_id: d, account: `acct-${n}`, certificate_id: `cc-${d}`, pooled_at: at, recycle_at: at + 1, state: 'pooled', attempts: -7, last_error: n % 2 ? '' : null }],
    ['cas_outbox', { id: big, op: 'register', device_id: d, certificate_id: null, idempotency_key: `idem-out-${d}`, created_at: at, attempts: 0, next_attempt_at: at, last_error: 'timeout\tafter 5 s\nretrying', claimed_by: null, claim_until: null }],
    ['pool_audit', { id: 10 + n, at, event: 'bound', device_id: d, account: null, detail: '{"note":"😀 ünïcödé"}' }],
    ['cwmp_devices', { device_id: d, manufacturer: 'Acme', oui: '00AABB', product_class: 'STB', serial_number: `SN${n}`, data_model: 'Device.', cwmp_version: '1.4', last_inform_at: at, last_events: '["1 BOOT"]', source_address: '203.0.113.7', cr_url: null, behind_nat: 1, nat_id: `nat-${n}`, stun_provisioned: null, credentials_provisioned: null, provisioning_failures: 0, provisioning_fault: null, provisioning_stopped: 0, partial_path_unsupported: 0, parameter_count: 0 }],
    // Counted into cwmp_devices.parameter_count by a trigger, here and not again by the copy.
    ...['Device.A', 'Device.b', 'Device.É'].map((name, i): Rows[number] => ['device_parameters', { device_id: d, name, value: `v${i}`, type: 'xsd:string', updated_at: at }]),
    ['tasks', { id: 100 + n, device_id: d, kind: 'reboot', request: '{"kind":"reboot"}', origin: 'api', status: 'queued', idempotency_key: null, created_at: at, expires_at: at + 1, sent_at: null, finished_at: null, attempts: 0, result: null, fault_code: null, fault_message: null, fault_details: null, request_sealed: null }],
    ['certificates', { id: `cert-${d}`, device_id: d, version: 1, status: 'valid', serial: `1${n}`, cert_pem: 'pem', key_sealed: ALL_BYTES, not_before: at, not_after: at + 1, renew_at: at, created_at: at, updated_at: at, notice_task: 100 + n }],
    ['certificate_versions', { certificate_id: `cert-${d}`, version: 1, serial: `1${n}`, cert_pem: 'pem', not_before: at, not_after: at + 1, issued_at: at, reason: 'created' }],
    ['credential_rotations', { device_id: d, cwmp_password: 'sealed-w', cr_password: 'sealed-c', interim: 'none', interim_password: null, created_at: at }],
    ['cpe_events', { id: 1000 + n, device_id: d, at, method: 'TransferComplete', detail: '{}' }],
    ['certificate_claims', { id: `claim-${d}`, device_id: d, claimed_at: at, claimed_by: `node-${n}`, claim_until: at + 1 }],
    ['uploads', { id: 2000 + n, device_id: d, task_id: 100 + n, file_type: '2 Vendor Log File', content_type: n % 2 ? '' : 'text/plain', size: 256, sha256: 'ab'.repeat(32), received_at: at, content: n % 2 ? ALL_BYTES : Buffer.alloc(0) }],
    ['files', { id: `firmware-${n}`, type: 'firmware', version: `2.${n}.0`, product_class: n % 2 ? null : 'STB', oui: n % 2 ? null : '00D09E', size: big, sha256: 'cd'.repeat(32), stored_name: `firmware-${n}.abcdef012345`, added_at: at }],
    ['device_tags', { device_id: d, tag: `pilot-${n}`, added_at: at }],
    ['campaigns', { id: 3000 + n, name: `campaign-${n}`, state: n % 2 ? 'running' : 'paused', reason: n % 2 ? null : 'stop rule: ünïcödé', spec: '{"where":"online"}', file_id: n % 2 ? 'fw' : null, target_version: '2.0', wave: 1, bounds: '[0,5,10]', accepted_wave: -1, total: 10, created_at: at, started_at: at, finished_at: null, lease_owner: null, lease_until: 0 }],
    ['campaign_devices', { campaign_id: 3000 + n, device_id: d, seq: -1 - n, state: 'in-progress', attempts: 1, task_id: 100 + n, reason: null, verify_until: at + 1, started_at: at, finished_at: null }],
    ['profiles', { name: `profile-${n}`, source: 'name = "x"\n[values]\n"Device.A" = "ü"\n', revision: 'ab'.repeat(16), created_at: at, updated_at: at }],
    ['profile_status', { device_id: d, profile: `profile-${n}`, revision: 'ab'.repeat(16), state: 'fault', task_id: 100 + n, attributes_task_id: null, fault: '{"code":9007,"message":"bad"}', updated_at: at }],
    ['profile_secrets', { device_id: d, sealed: `sealed-ps-${n}` }],
    ...(n === 0 ? [['health_probe', { id: 1, checked_at: at }] as const, ['profile_catalog', { id: 1, version: big }] as const] : []),
  ];
}

/** Inserts rows with a `$1, $2, …` statement per row (the engines helper's `query` takes that on both engines). */
export async function insertRows(query: (sql: string, params: unknown[]) => Promise<unknown>, rows: Rows): Promise<void> {
  for (const [table, row] of rows) {
    const cols = Object.keys(row);
    await query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
  }
}

/** A value as a test compares it across engines: integers as digits whatever their JS type, bytes as hex. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint' || typeof v === 'number') return `int:${v}`;
  if (Buffer.isBuffer(v)) return `bytes:${v.toString('hex')}`;
  return v;
}

/** Every row of every table, read without the copy's code, sorted, in a form both engines give alike. */
export type Dump = Record<string, string[]>;

const dumpRows = (rows: Record<string, unknown>[]): string[] =>
  rows.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, plain(v)])))).sort();

export function dumpSqlite(db: Database): Dump {
  const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
  return Object.fromEntries(tables.map((t) => [t, dumpRows(db.prepare(`SELECT * FROM ${t}`).safeIntegers(true).all() as Record<string, unknown>[])]));
}

export async function dumpPostgres(url: string): Promise<Dump> {
  // BIGINT as text: exact, unlike the daemon's pools.
  const client = new pg.Client({ connectionString: url, types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 20 ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser } });
  await client.connect();
  try {
    const { rows } = await client.query<{ t: string }>("SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'stbd_schema' ORDER BY 1");
    const out: Dump = {};
    for (const { t } of rows) out[t] = dumpRows((await client.query(`SELECT * FROM ${t}`)).rows);
    return out;
  } finally {
    await client.end();
  }
}
