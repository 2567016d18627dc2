import type BetterSqlite3 from 'better-sqlite3';
import { SECRET_SUFFIXES, redact } from '../secret-names.js';
import { columnContext, type Sealer, sealText } from '../sealed-text.js';

/** What a migration's code may need besides the database. */
export interface MigrationContext {
  /** The master key's sealer; absent where no key is at hand (a migration that needs it says so). */
  readonly sealer: Sealer | undefined;
}

/**
 * The schema's history. A migration is never edited once released: add a new one instead.
 * `version` is stored in SQLite's user_version; each migration runs in its own transaction.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
  /** Changes SQL alone cannot make (sealing secrets), after `sql`, in the same transaction. */
  readonly run?: (db: BetterSqlite3.Database, ctx: MigrationContext) => void;
  /** It replaces secrets: the file is rewritten (VACUUM) and the WAL emptied after it, so none linger on disk. */
  readonly scrub?: boolean;
}

/** Where no master key is at hand, a migration that must seal rows cannot run. */
export class MigrationNeedsKeyError extends Error {
  constructor(readonly rows: number) {
    super(`${rows} rows hold secrets to seal under the master key, and no key was given`);
    this.name = 'MigrationNeedsKeyError';
  }
}

/** SQL that is true for the secret names of SECRET_SUFFIXES (LIKE ignores ASCII case, GLOB does not). */
const secretNameSql = (column: string): string =>
  `(${SECRET_SUFFIXES.map(({ suffix, anyCase }) => (anyCase ? `${column} LIKE '%${suffix}'` : `${column} GLOB '*${suffix}'`)).join(' OR ')})`;

/** Every row of `table` matching `where`, in pages by `key` (a statement cannot run while another iterates). */
function eachRow<R extends Record<string, unknown>>(db: BetterSqlite3.Database, table: string, columns: string, key: string, where: string, first: string | number, each: (r: R) => void): void {
  const page = db.prepare(`SELECT ${columns} FROM ${table} WHERE (${where}) AND ${key} > ? ORDER BY ${key} LIMIT 1000`);
  for (let after: unknown = first, rows = page.all(after) as R[]; rows.length > 0; rows = page.all(after) as R[]) {
    rows.forEach(each);
    after = rows.at(-1)![key];
  }
}

/** Version 9: device passwords and the secrets of queued tasks sealed; secrets gone from results and parameters. */
function sealSecrets(db: BetterSqlite3.Database, { sealer }: MigrationContext): void {
  db.exec(`DELETE FROM device_parameters WHERE ${secretNameSql('name')}`);
  db.exec('UPDATE cwmp_devices SET parameter_count = (SELECT count(*) FROM device_parameters p WHERE p.device_id = cwmp_devices.device_id)');
  const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
  const rows = count('SELECT count(*) AS n FROM devices') + count('SELECT count(*) AS n FROM credential_rotations');
  const open = count(`SELECT count(*) AS n FROM tasks WHERE status IN ('queued', 'sent') AND kind IN ('setParameterValues', 'download')`);
  if (!sealer) {
    if (rows + open > 0) throw new MigrationNeedsKeyError(rows + open);
    return;
  }
  const seal = (table: string, column: string, key: string | number, text: string) => sealText(sealer, text, columnContext(table, column, key));
  type Device = { id: string; stun_password: string; cr_password: string; cwmp_password: string };
  const device = db.prepare('UPDATE devices SET stun_password = ?, cr_password = ?, cwmp_password = ? WHERE id = ?');
  eachRow<Device>(db, 'devices', 'id, stun_password, cr_password, cwmp_password', 'id', 'true', '', (d) => {
    device.run(seal('devices', 'stun_password', d.id, d.stun_password), seal('devices', 'cr_password', d.id, d.cr_password), seal('devices', 'cwmp_password', d.id, d.cwmp_password), d.id);
  });
  type Rotation = { device_id: string; cwmp_password: string; cr_password: string; interim_password: string | null };
  const rotation = db.prepare('UPDATE credential_rotations SET cwmp_password = ?, cr_password = ?, interim_password = ? WHERE device_id = ?');
  const rt = 'credential_rotations';
  eachRow<Rotation>(db, rt, 'device_id, cwmp_password, cr_password, interim_password', 'device_id', 'true', '', (r) => {
    rotation.run(seal(rt, 'cwmp_password', r.device_id, r.cwmp_password), seal(rt, 'cr_password', r.device_id, r.cr_password), r.interim_password === null ? null : seal(rt, 'interim_password', r.device_id, r.interim_password), r.device_id);
  });
  // Requests as they may be shown, the secrets of open ones sealed beside them; results without secrets.
  type Task = { id: number; status: string; request: string; result: string | null };
  const task = db.prepare('UPDATE tasks SET request = ?, request_sealed = ?, result = ? WHERE id = ?');
  eachRow<Task>(db, 'tasks', 'id, status, request, result', 'id', `kind IN ('setParameterValues', 'download', 'getParameterValues', 'refresh')`, 0, (t) => {
    const request: unknown = JSON.parse(t.request);
    const shown = redact(request);
    const result: unknown = t.result === null ? null : JSON.parse(t.result);
    const sealed = shown !== request && (t.status === 'queued' || t.status === 'sent') ? seal('tasks', 'request_sealed', t.id, t.request) : null;
    task.run(JSON.stringify(shown), sealed, result === null ? null : JSON.stringify(redact(result)), t.id);
  });
  const event = db.prepare('UPDATE cpe_events SET detail = ? WHERE id = ?');
  // Only details that may hold a secret are read (a million devices keep up to 20 each).
  const mayHold = ['@', ...SECRET_SUFFIXES.map((s) => s.suffix)].map((w) => `detail LIKE '%${w}%'`).join(' OR ');
  eachRow<{ id: number; detail: string }>(db, 'cpe_events', 'id, detail', 'id', mayHold, 0, (e) => event.run(JSON.stringify(redact(JSON.parse(e.detail))), e.id));
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'device registry',
    sql: `
      CREATE TABLE devices (
        id            TEXT PRIMARY KEY,
        stun_username TEXT NOT NULL UNIQUE,
        stun_password TEXT NOT NULL,
        cr_username   TEXT NOT NULL,
        cr_password   TEXT NOT NULL,
        cwmp_username TEXT NOT NULL UNIQUE,
        cwmp_password TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'presence and durable deadlines',
    sql: `
      CREATE TABLE presence (
        device_id          TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
        last_seen          INTEGER NOT NULL,
        source_address     TEXT,
        source_port        INTEGER,
        authenticated_at   INTEGER,
        integrity_variant  TEXT,
        binding_address    TEXT,
        binding_port       INTEGER,
        binding_changed_at INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE timer_deadlines (
        kind   TEXT NOT NULL,
        key    TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX timer_deadlines_due ON timer_deadlines (due_at, kind, key);
    `,
  },
  {
    version: 3,
    name: 'builtin certificate authority and CAS certificates',
    sql: `
      CREATE TABLE ca (
        name       TEXT PRIMARY KEY,
        cert_pem   TEXT NOT NULL,
        key_sealed BLOB NOT NULL,
        created_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE cas_certificates (
        certificate_id  TEXT PRIMARY KEY,
        device_id       TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        serial          TEXT NOT NULL,
        cert_pem        TEXT NOT NULL,
        key_sealed      BLOB NOT NULL,
        issued_at       INTEGER NOT NULL,
        revoked_at      INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX cas_certificates_device ON cas_certificates (device_id);
    `,
  },
  {
    version: 4,
    name: 'device binding and the recycling pool',
    sql: `
      CREATE TABLE bindings (
        device_id      TEXT PRIMARY KEY,
        account        TEXT NOT NULL,
        state          TEXT NOT NULL CHECK (state IN ('registering', 'active')),
        via            TEXT NOT NULL CHECK (via IN ('pool', 'cas')),
        certificate_id TEXT,
        bound_at       INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX bindings_account ON bindings (account);
      CREATE TABLE pool_entries (
        device_id      TEXT PRIMARY KEY,
        account        TEXT NOT NULL,
        certificate_id TEXT,
        pooled_at      INTEGER NOT NULL,
        recycle_at     INTEGER NOT NULL,
        state          TEXT NOT NULL CHECK (state IN ('pooled', 'deregistering')),
        attempts       INTEGER NOT NULL DEFAULT 0,
        last_error     TEXT
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX pool_entries_account ON pool_entries (account);
      -- The recycle backlog is counted on every metrics scrape: keep it an index lookup at a million entries.
      CREATE INDEX pool_entries_deregistering ON pool_entries (device_id) WHERE state = 'deregistering';
      CREATE TABLE cas_outbox (
        id              INTEGER PRIMARY KEY,
        op              TEXT NOT NULL CHECK (op IN ('register', 'deregister')),
        device_id       TEXT NOT NULL,
        certificate_id  TEXT,
        idempotency_key TEXT NOT NULL UNIQUE,
        created_at      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT
      ) STRICT;
      CREATE INDEX cas_outbox_device ON cas_outbox (device_id, id);
      CREATE TABLE pool_audit (
        id        INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        event     TEXT NOT NULL,
        device_id TEXT NOT NULL,
        account   TEXT,
        detail    TEXT
      ) STRICT;
      CREATE INDEX pool_audit_device ON pool_audit (device_id, id);
    `,
  },
  {
    version: 5,
    name: 'management channel: CWMP state, last known parameters, tasks',
    sql: `
      CREATE TABLE cwmp_devices (
        device_id         TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
        manufacturer      TEXT NOT NULL,
        oui               TEXT NOT NULL,
        product_class     TEXT NOT NULL,
        serial_number     TEXT NOT NULL,
        data_model        TEXT NOT NULL CHECK (data_model IN ('InternetGatewayDevice.', 'Device.')),
        cwmp_version      TEXT NOT NULL,
        last_inform_at    INTEGER NOT NULL,
        last_events       TEXT NOT NULL,
        source_address    TEXT NOT NULL,
        cr_url            TEXT,
        behind_nat        INTEGER NOT NULL,
        nat_id            TEXT,
        stun_provisioned  TEXT
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE device_parameters (
        device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        name       TEXT NOT NULL,
        value      TEXT NOT NULL,
        type       TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (device_id, name)
      ) STRICT, WITHOUT ROWID;
      CREATE TABLE tasks (
        id              INTEGER PRIMARY KEY,
        device_id       TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        kind            TEXT NOT NULL,
        request         TEXT NOT NULL,
        origin          TEXT NOT NULL CHECK (origin IN ('api', 'provisioning', 'certs')),
        status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'done', 'fault', 'expired', 'cancelled')),
        idempotency_key TEXT,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        sent_at         INTEGER,
        finished_at     INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        result          TEXT,
        fault_code      INTEGER,
        fault_message   TEXT
      ) STRICT;
      -- Per-device FIFO of open work, and the devices that have any.
      CREATE INDEX tasks_open ON tasks (device_id, id) WHERE status IN ('queued', 'sent');
      CREATE INDEX tasks_device ON tasks (device_id, id);
      -- Finished tasks are purged after [cwmp] task_retention.
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE status IN ('done', 'fault', 'expired', 'cancelled');
      -- Idempotency keys are the caller's, per device (a bulk run reuses one key for many devices).
      CREATE UNIQUE INDEX tasks_idempotency ON tasks (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: 'certificate proxy',
    sql: `
      CREATE TABLE certificates (
        id          TEXT PRIMARY KEY,
        device_id   TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        version     INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('valid', 'expired', 'revoked', 'update-pending')),
        serial      TEXT NOT NULL,
        cert_pem    TEXT NOT NULL,
        -- AES-256-GCM under the master key; the certificate id, device id and version are its associated data.
        key_sealed  BLOB NOT NULL,
        not_before  INTEGER NOT NULL,
        not_after   INTEGER NOT NULL,
        renew_at    INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        notice_task INTEGER
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX certificates_device ON certificates (device_id, id);
      CREATE TABLE certificate_versions (
        certificate_id TEXT NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
        version        INTEGER NOT NULL,
        serial         TEXT NOT NULL,
        cert_pem       TEXT NOT NULL,
        not_before     INTEGER NOT NULL,
        not_after      INTEGER NOT NULL,
        issued_at      INTEGER NOT NULL,
        reason         TEXT NOT NULL,
        PRIMARY KEY (certificate_id, version)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 7,
    name: 'CWMP interoperability: credential rotation, provisioning state, CPE requests, fault details',
    sql: `
      -- When the CPE last accepted credentials stbd pushed to it (bootstrap or first use).
      ALTER TABLE devices ADD COLUMN credentials_pushed_at INTEGER;
      -- The connection-request credentials were generated by stbd: the CPE learns them only from stbd.
      ALTER TABLE devices ADD COLUMN cr_generated INTEGER NOT NULL DEFAULT 0;
      -- Credentials being pushed to a CPE: they replace the device's once the CPE accepts them. Meanwhile the
      -- device's own keep working, and so may what the CPE had before (first use: its original password).
      CREATE TABLE credential_rotations (
        device_id        TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
        cwmp_password    TEXT NOT NULL,
        cr_password      TEXT NOT NULL,
        interim          TEXT NOT NULL CHECK (interim IN ('none', 'password', 'any')),
        interim_password TEXT,
        created_at       INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      ALTER TABLE cwmp_devices ADD COLUMN credentials_provisioned TEXT;
      ALTER TABLE cwmp_devices ADD COLUMN provisioning_failures INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE cwmp_devices ADD COLUMN provisioning_fault TEXT;
      ALTER TABLE cwmp_devices ADD COLUMN provisioning_stopped INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE cwmp_devices ADD COLUMN partial_path_unsupported INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tasks ADD COLUMN fault_details TEXT;
      -- What CPEs reported on their own (AutonomousTransferComplete, DU state changes, …), newest kept.
      CREATE TABLE cpe_events (
        id        INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        at        INTEGER NOT NULL,
        method    TEXT NOT NULL,
        detail    TEXT NOT NULL
      ) STRICT;
      CREATE INDEX cpe_events_device ON cpe_events (device_id, id);
    `,
  },
  {
    version: 8,
    name: 'health probe',
    sql: `
      -- One row /health rewrites to prove the database still takes writes.
      CREATE TABLE health_probe (
        id         INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 9,
    name: 'secrets sealed at rest; stored parameters counted',
    sql: `
      -- Device passwords (devices, credential_rotations) become sealed text in their own columns (below).
      -- A task's request is stored as it may be shown; when it holds secrets, the request itself is sealed here.
      ALTER TABLE tasks ADD COLUMN request_sealed TEXT;
      -- Last known parameter values per device, counted for [cwmp] max_parameters_per_device.
      ALTER TABLE cwmp_devices ADD COLUMN parameter_count INTEGER NOT NULL DEFAULT 0;
      CREATE TRIGGER device_parameters_added AFTER INSERT ON device_parameters
        BEGIN UPDATE cwmp_devices SET parameter_count = parameter_count + 1 WHERE device_id = NEW.device_id; END;
      CREATE TRIGGER device_parameters_removed AFTER DELETE ON device_parameters
        BEGIN UPDATE cwmp_devices SET parameter_count = parameter_count - 1 WHERE device_id = OLD.device_id; END;
    `,
    run: sealSecrets,
    scrub: true,
  },
  {
    version: 10,
    name: 'certificate ids claimed while the CA issues',
    sql: `
      -- A certificate id being created: claimed here (one winner) before the CA is called, replaced by its
      -- certificates row when the CA answers, deleted when it fails. Counted in the per-device cap.
      CREATE TABLE certificate_claims (
        id         TEXT PRIMARY KEY,
        device_id  TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        claimed_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX certificate_claims_device ON certificate_claims (device_id);
    `,
  },
  {
    version: 11,
    name: 'uploads from CPEs; tasks waiting for a transfer',
    sql: `
      -- A task whose CPE accepted an Upload waits for the file and its TransferComplete: status 'transferring'.
      -- SQLite cannot change a CHECK constraint: the table is rebuilt with the same columns and indexes.
      CREATE TABLE tasks_new (
        id              INTEGER PRIMARY KEY,
        device_id       TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        kind            TEXT NOT NULL,
        request         TEXT NOT NULL,
        origin          TEXT NOT NULL CHECK (origin IN ('api', 'provisioning', 'certs')),
        status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'transferring', 'done', 'fault', 'expired', 'cancelled')),
        idempotency_key TEXT,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        sent_at         INTEGER,
        finished_at     INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        result          TEXT,
        fault_code      INTEGER,
        fault_message   TEXT,
        fault_details   TEXT,
        request_sealed  TEXT
      ) STRICT;
      INSERT INTO tasks_new (id, device_id, kind, request, origin, status, idempotency_key, created_at, expires_at, sent_at,
          finished_at, attempts, result, fault_code, fault_message, fault_details, request_sealed)
        SELECT id, device_id, kind, request, origin, status, idempotency_key, created_at, expires_at, sent_at,
          finished_at, attempts, result, fault_code, fault_message, fault_details, request_sealed FROM tasks;
      DROP TABLE tasks;
      ALTER TABLE tasks_new RENAME TO tasks;
      CREATE INDEX tasks_open ON tasks (device_id, id) WHERE status IN ('queued', 'sent');
      CREATE INDEX tasks_device ON tasks (device_id, id);
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE status IN ('done', 'fault', 'expired', 'cancelled');
      CREATE UNIQUE INDEX tasks_idempotency ON tasks (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
      -- Files CPEs uploaded (configuration, logs), in the store so that every stbd over one database serves
      -- them; the newest [uploads] keep_per_device are kept per device.
      CREATE TABLE uploads (
        id           INTEGER PRIMARY KEY,
        device_id    TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        task_id      INTEGER NOT NULL,
        file_type    TEXT NOT NULL,
        content_type TEXT NOT NULL,
        size         INTEGER NOT NULL,
        sha256       TEXT NOT NULL,
        received_at  INTEGER NOT NULL,
        content      BLOB NOT NULL
      ) STRICT;
      CREATE INDEX uploads_device ON uploads (device_id, id);
      CREATE INDEX uploads_task ON uploads (task_id);
    `,
  },
  {
    version: 12,
    name: 'device tags; selector functions',
    // The selector's SQL functions (stbd_version_key, stbd_number) are registered on the connection by
    // devices/sqlite-selection-repo.ts: SQLite keeps no functions in the file.
    sql: `
      CREATE TABLE device_tags (
        device_id TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        tag       TEXT NOT NULL,
        added_at  INTEGER NOT NULL,
        PRIMARY KEY (device_id, tag)
      ) STRICT, WITHOUT ROWID;
      -- Devices by tag (a bulk change or a listing by one tag).
      CREATE INDEX device_tags_tag ON device_tags (tag, device_id);
    `,
  },
  {
    version: 13,
    name: 'tasks queued by profiles and campaigns',
    sql: `
      -- Fleet work queues tasks of its own origins ('profile', 'campaign'). SQLite cannot change a CHECK
      -- constraint: the table is rebuilt with the same columns and indexes.
      CREATE TABLE tasks_new (
        id              INTEGER PRIMARY KEY,
        device_id       TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        kind            TEXT NOT NULL,
        request         TEXT NOT NULL,
        origin          TEXT NOT NULL CHECK (origin IN ('api', 'provisioning', 'certs', 'profile', 'campaign')),
        status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'transferring', 'done', 'fault', 'expired', 'cancelled')),
        idempotency_key TEXT,
        created_at      INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        sent_at         INTEGER,
        finished_at     INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        result          TEXT,
        fault_code      INTEGER,
        fault_message   TEXT,
        fault_details   TEXT,
        request_sealed  TEXT
      ) STRICT;
      INSERT INTO tasks_new (id, device_id, kind, request, origin, status, idempotency_key, created_at, expires_at, sent_at,
          finished_at, attempts, result, fault_code, fault_message, fault_details, request_sealed)
        SELECT id, device_id, kind, request, origin, status, idempotency_key, created_at, expires_at, sent_at,
          finished_at, attempts, result, fault_code, fault_message, fault_details, request_sealed FROM tasks;
      DROP TABLE tasks;
      ALTER TABLE tasks_new RENAME TO tasks;
      CREATE INDEX tasks_open ON tasks (device_id, id) WHERE status IN ('queued', 'sent');
      CREATE INDEX tasks_device ON tasks (device_id, id);
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE status IN ('done', 'fault', 'expired', 'cancelled');
      CREATE UNIQUE INDEX tasks_idempotency ON tasks (device_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    `,
  },
  {
    version: 14,
    name: 'profiles and each device\'s standing with them',
    sql: `
      -- A profile is stored as the file the operator added (parsed again on load); revision: a hash of it.
      CREATE TABLE profiles (
        name       TEXT PRIMARY KEY,
        source     TEXT NOT NULL,
        revision   TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT, WITHOUT ROWID;
      -- At most one row (none: version 0): every change of the profiles adds one, so processes on one store
      -- see theirs is out of date.
      CREATE TABLE profile_catalog (
        id      INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
      ) STRICT;
      -- Per device and profile (the built-in one included, which has no row in profiles).
      CREATE TABLE profile_status (
        device_id          TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        profile            TEXT NOT NULL,
        revision           TEXT NOT NULL,
        state              TEXT NOT NULL CHECK (state IN ('compliant', 'pending', 'fault')),
        task_id            INTEGER,
        attributes_task_id INTEGER,
        fault              TEXT,
        updated_at         INTEGER NOT NULL,
        PRIMARY KEY (device_id, profile)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX profile_status_profile ON profile_status (profile, state, device_id);
      -- {secret}: one generated secret per device, sealed under the master key.
      CREATE TABLE profile_secrets (
        device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
        sealed    TEXT NOT NULL
      ) STRICT, WITHOUT ROWID;
      -- A task queued by profiles names them (comma-separated), for the operator reading it.
      ALTER TABLE tasks ADD COLUMN profiles TEXT;
    `,
  },
  {
    version: 15,
    name: 'cluster: nodes, binding owners, claims, session leases',
    sql: `
      -- One row per stbd node of the cluster (PostgreSQL; on SQLite the one node itself): its heartbeat and lease.
      CREATE TABLE nodes (
        node_id      TEXT PRIMARY KEY,
        stun_address TEXT NOT NULL,
        incarnation  INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        heartbeat_at INTEGER NOT NULL,
        lease_until  INTEGER NOT NULL,
        owned        INTEGER NOT NULL DEFAULT 0,
        online       INTEGER NOT NULL DEFAULT 0,
        drain_total  INTEGER,
        drain_done   INTEGER
      ) STRICT;
      -- The node whose STUN socket holds the device's NAT binding (NULL: no node claimed it yet).
      ALTER TABLE presence ADD COLUMN node TEXT;
      CREATE INDEX presence_node ON presence (node);
      -- Once-only work: who is running a deadline, an outbox row or a CA call, and until when (then anyone may take it over).
      ALTER TABLE timer_deadlines ADD COLUMN claimed_by TEXT;
      ALTER TABLE timer_deadlines ADD COLUMN claim_until INTEGER;
      ALTER TABLE cas_outbox ADD COLUMN claimed_by TEXT;
      ALTER TABLE cas_outbox ADD COLUMN claim_until INTEGER;
      ALTER TABLE certificate_claims ADD COLUMN claimed_by TEXT;
      ALTER TABLE certificate_claims ADD COLUMN claim_until INTEGER;
      -- One CWMP session per device in the whole cluster: the node holding it and until when.
      CREATE TABLE cwmp_session_leases (
        device_id   TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
        node_id     TEXT NOT NULL,
        session     TEXT NOT NULL,
        lease_until INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 16,
    name: 'firmware and configuration files stbd serves',
    sql: `
      -- The bytes are on disk under [files] dir (stored_name there); a row per file stbd serves.
      CREATE TABLE files (
        id            TEXT PRIMARY KEY,
        type          TEXT NOT NULL,
        version       TEXT NOT NULL,
        product_class TEXT,
        oui           TEXT,
        size          INTEGER NOT NULL,
        sha256        TEXT NOT NULL,
        stored_name   TEXT NOT NULL,
        added_at      INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 17,
    name: 'staged campaigns',
    sql: `
      -- A campaign: its definition (spec, JSON), where it is (wave, bounds), and the lease of the node driving it.
      CREATE TABLE campaigns (
        id             INTEGER PRIMARY KEY,
        name           TEXT NOT NULL UNIQUE,
        state          TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'done', 'cancelled')),
        reason         TEXT,
        spec           TEXT NOT NULL,
        file_id        TEXT,
        target_version TEXT,
        wave           INTEGER NOT NULL DEFAULT 0,
        bounds         TEXT NOT NULL DEFAULT '[]',
        accepted_wave  INTEGER NOT NULL DEFAULT -1,
        total          INTEGER NOT NULL DEFAULT 0,
        created_at     INTEGER NOT NULL,
        started_at     INTEGER,
        finished_at    INTEGER,
        lease_owner    TEXT,
        lease_until    INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX campaigns_file ON campaigns (file_id) WHERE file_id IS NOT NULL;
      -- The target set, fixed at start: one row a device, in selection order (seq; the canary negative).
      CREATE TABLE campaign_devices (
        campaign_id  INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        device_id    TEXT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('pending', 'in-progress', 'succeeded', 'failed', 'skipped', 'cancelled')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        task_id      INTEGER,
        reason       TEXT,
        verify_until INTEGER,
        started_at   INTEGER,
        finished_at  INTEGER,
        PRIMARY KEY (campaign_id, device_id)
      ) STRICT, WITHOUT ROWID;
      CREATE UNIQUE INDEX campaign_devices_seq ON campaign_devices (campaign_id, seq);
      CREATE INDEX campaign_devices_state ON campaign_devices (campaign_id, state, seq);
      CREATE INDEX campaign_devices_active ON campaign_devices (device_id) WHERE state = 'in-progress';
      CREATE INDEX campaign_devices_task ON campaign_devices (task_id) WHERE task_id IS NOT NULL;
      CREATE INDEX campaign_devices_verify ON campaign_devices (verify_until) WHERE verify_until IS NOT NULL;
    `,
  },
  {
    version: 18,
    name: 'pool recycling read from pool_entries.recycle_at',
    sql: `
      -- When a pool entry is recycled is its recycle_at, read by the pool's sweep through this index; no
      -- deadline row per entry. The rows of kind 'pool-recycle' older versions wrote go: each one's due time
      -- is its entry's recycle_at already (the unbind wrote both with one time, and a deadline that fired early
      -- was written again at recycle_at, which the recycling rule has always checked), so the sweep fires them.
      CREATE INDEX pool_entries_recycle ON pool_entries (recycle_at, device_id) WHERE state = 'pooled';
      DELETE FROM timer_deadlines WHERE kind = 'pool-recycle';
    `,
  },
  {
    version: 19,
    name: 'a node reads the bindings it holds in device order',
    sql: `
      -- A cluster node loads only the devices whose bindings it holds, in pages by device id: the index
      -- gives them in that order, so each page starts where the last ended.
      DROP INDEX presence_node;
      CREATE INDEX presence_node ON presence (node, device_id);
    `,
  },
  {
    version: 20,
    name: 'selector version keys computed without a query per value',
    // PostgreSQL's stbd_version_key rewritten; SQLite's is registered on the connection (version 12).
    sql: '',
  },
  {
    version: 21,
    name: 'campaign devices counted per state as they change',
    sql: `
      -- A campaign's devices per state, in buckets of 1,024 seqs (seq >> 10), kept by the triggers below in the
      -- same transaction as each change: counting a wave reads its buckets and the devices of its two ragged
      -- ends, not every device of the wave (about 90 ms for a million, on the loop, once a driver tick).
      CREATE TABLE campaign_counts (
        campaign_id INTEGER NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
        bucket      INTEGER NOT NULL,
        state       TEXT NOT NULL,
        n           INTEGER NOT NULL,
        PRIMARY KEY (campaign_id, bucket, state)
      ) STRICT, WITHOUT ROWID;
      INSERT INTO campaign_counts (campaign_id, bucket, state, n)
        SELECT campaign_id, seq >> 10, state, count(*) FROM campaign_devices GROUP BY 1, 2, 3;
      CREATE TRIGGER campaign_counts_insert AFTER INSERT ON campaign_devices BEGIN
        INSERT INTO campaign_counts (campaign_id, bucket, state, n) VALUES (new.campaign_id, new.seq >> 10, new.state, 1)
          ON CONFLICT DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER campaign_counts_update AFTER UPDATE OF campaign_id, seq, state ON campaign_devices
        WHEN old.state IS NOT new.state OR old.seq IS NOT new.seq OR old.campaign_id IS NOT new.campaign_id BEGIN
        UPDATE campaign_counts SET n = n - 1 WHERE campaign_id = old.campaign_id AND bucket = old.seq >> 10 AND state = old.state;
        INSERT INTO campaign_counts (campaign_id, bucket, state, n) VALUES (new.campaign_id, new.seq >> 10, new.state, 1)
          ON CONFLICT DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER campaign_counts_delete AFTER DELETE ON campaign_devices BEGIN
        UPDATE campaign_counts SET n = n - 1 WHERE campaign_id = old.campaign_id AND bucket = old.seq >> 10 AND state = old.state;
      END;
    `,
  },
];
