/** The pool's records, as both store engines return them. */

export interface Binding {
  readonly deviceId: string;
  readonly account: string;
  readonly state: 'registering' | 'active';
  readonly via: 'pool' | 'cas';
  readonly certificateId: string | null;
  readonly boundAt: number;
}

export interface PoolEntry {
  readonly deviceId: string;
  readonly account: string;
  readonly certificateId: string | null;
  readonly pooledAt: number;
  readonly recycleAt: number;
  readonly state: 'pooled' | 'deregistering';
  readonly attempts: number;
  readonly lastError: string | null;
}

export interface OutboxRow {
  readonly id: number;
  readonly op: 'register' | 'deregister';
  readonly deviceId: string;
  readonly certificateId: string | null;
  readonly idempotencyKey: string;
  readonly attempts: number;
  readonly nextAttemptAt: number;
}

export interface AuditEvent {
  readonly at: number;
  readonly event: string;
  readonly deviceId: string;
  readonly account: string | null;
  readonly detail: string | null;
}
