/**
 * The schema's history. A migration is never edited once released: add a new one instead.
 * `version` is stored in SQLite's user_version; each migration runs in its own transaction.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
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
];
