import type pg from 'pg';
import type { Database } from '../store/database.js';
import { named } from '../store/postgres/pg-transaction.js';

export interface StoredCa {
  readonly certPem: string;
  readonly keySealed: Buffer;
}

/** The builtin CA's certificate and sealed private key, and the builtin endpoints' server certificates. */
export interface CaRepo {
  get(name: string): Promise<StoredCa | undefined>;
  /** Stores the CA unless one exists already (two daemons racing keep the first). */
  insert(name: string, ca: StoredCa, now: number): Promise<void>;
}

export class SqliteCaRepo implements CaRepo {
  readonly #get;
  readonly #insert;

  constructor(db: Database) {
    this.#get = db.prepare<[string], { cert_pem: string; key_sealed: Buffer }>('SELECT cert_pem, key_sealed FROM ca WHERE name = ?');
    this.#insert = db.prepare('INSERT INTO ca (name, cert_pem, key_sealed, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING');
  }

  async get(name: string): Promise<StoredCa | undefined> {
    const row = this.#get.get(name);
    return row && { certPem: row.cert_pem, keySealed: row.key_sealed };
  }

  async insert(name: string, ca: StoredCa, now: number): Promise<void> {
    this.#insert.run(name, ca.certPem, ca.keySealed, now);
  }
}

const Q = {
  get: named('ca_get', 'SELECT cert_pem, key_sealed FROM ca WHERE name = $1'),
  insert: named('ca_insert', 'INSERT INTO ca (name, cert_pem, key_sealed, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING'),
};

export class PgCaRepo implements CaRepo {
  constructor(private readonly pool: pg.Pool) {}

  async get(name: string): Promise<StoredCa | undefined> {
    const row = (await this.pool.query<{ cert_pem: string; key_sealed: Buffer }>(Q.get([name]))).rows[0];
    return row && { certPem: row.cert_pem, keySealed: row.key_sealed };
  }

  async insert(name: string, ca: StoredCa, now: number): Promise<void> {
    await this.pool.query(Q.insert([name, ca.certPem, ca.keySealed, now]));
  }
}
