import type { Database } from '../store/database.js';

export interface StoredCa {
  readonly certPem: string;
  readonly keySealed: Buffer;
}

/** The builtin CA's certificate and sealed private key. */
export class CaRepo {
  readonly #get;
  readonly #insert;

  constructor(db: Database) {
    this.#get = db.prepare<[string], { cert_pem: string; key_sealed: Buffer }>('SELECT cert_pem, key_sealed FROM ca WHERE name = ?');
    this.#insert = db.prepare('INSERT INTO ca (name, cert_pem, key_sealed, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING');
  }

  get(name: string): StoredCa | undefined {
    const row = this.#get.get(name);
    return row && { certPem: row.cert_pem, keySealed: row.key_sealed };
  }

  /** Stores the CA unless one exists already (two daemons racing keep the first). */
  insert(name: string, ca: StoredCa, now: number): void {
    this.#insert.run(name, ca.certPem, ca.keySealed, now);
  }
}
