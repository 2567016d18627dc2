import { sealedBytes } from '../sealed-text.js';
import type { Database } from '../store/database.js';
import type { IntegrityVariant } from '../stun/integrity.js';
import type { SealedKeepaliveCredentials } from './device-table.js';
import type { PresenceRecord } from './presence.js';

type Loaded = [id: string, stunUsername: string, stunPassword: string, lastSeen: number | null, srcAddr: string | null, srcPort: number | null, authAt: number | null, variant: string | null, bindAddr: string | null, bindPort: number | null, changedAt: number | null];

/** All SQL of the keepalive path: loading devices with their presence at start, and the batched flush. */
export class PresenceRepo {
  readonly #db: Database;
  readonly #upsert;

  constructor(db: Database) {
    this.#db = db;
    this.#upsert = db.prepare(`
      INSERT INTO presence (device_id, last_seen, source_address, source_port, authenticated_at, integrity_variant, binding_address, binding_port, binding_changed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET
        last_seen = excluded.last_seen, source_address = excluded.source_address, source_port = excluded.source_port,
        authenticated_at = excluded.authenticated_at, integrity_variant = excluded.integrity_variant,
        binding_address = excluded.binding_address, binding_port = excluded.binding_port, binding_changed_at = excluded.binding_changed_at`);
  }

  /** Streams every device (its STUN password as stored: sealed) with its persisted presence (null if it never sent a keepalive). */
  loadAll(each: (device: SealedKeepaliveCredentials, presence: PresenceRecord | null) => void): void {
    const rows = this.#db
      .prepare(
        `SELECT d.id, d.stun_username, d.stun_password, p.last_seen, p.source_address, p.source_port, p.authenticated_at,
                p.integrity_variant, p.binding_address, p.binding_port, p.binding_changed_at
         FROM devices d LEFT JOIN presence p ON p.device_id = d.id`,
      )
      .raw()
      .iterate() as IterableIterator<Loaded>;
    for (const [id, stunUsername, stunPassword, lastSeen, srcAddr, srcPort, authAt, variant, bindAddr, bindPort, changedAt] of rows) {
      const presence: PresenceRecord | null =
        lastSeen === null
          ? null
          : {
              lastSeen,
              source: srcAddr === null ? null : { address: srcAddr, port: srcPort ?? 0 },
              authenticatedAt: authAt,
              variant: variant as IntegrityVariant | null,
              binding: bindAddr === null ? null : { address: bindAddr, port: bindPort ?? 0 },
              bindingChangedAt: changedAt,
            };
      each({ id, stunUsername, sealedStunPassword: sealedBytes(stunPassword) }, presence);
    }
  }

  /** Writes a batch in one transaction. */
  write(batch: readonly (readonly [deviceId: string, record: PresenceRecord])[]): void {
    this.#db.transaction(() => {
      for (const [id, r] of batch) {
        this.#upsert.run(id, r.lastSeen, r.source?.address ?? null, r.source?.port ?? null, r.authenticatedAt, r.variant, r.binding?.address ?? null, r.binding?.port ?? null, r.bindingChangedAt);
      }
    })();
  }
}
