/**
 * A conditional-access system (seed 000): it registers a device (allocates it a CAS certificate) and
 * deregisters it. Both calls carry an idempotency key: repeating a call with the same key changes
 * nothing more, so the pool's outbox may resend after a crash without duplicating anything.
 */
export interface Cas {
  register(deviceId: string, idempotencyKey: string): Promise<{ readonly certificateId: string }>;
  /**
   * Resolves once the CAS confirms the device is deregistered (already being so counts). A null
   * certificate id means whatever the device holds (after a registration whose outcome is unknown).
   */
  deregister(deviceId: string, certificateId: string | null, idempotencyKey: string): Promise<void>;
}

/** A CAS call that failed. `retryable`: worth trying again later (unreachable, timeout, 5xx); otherwise refused. */
export class CasError extends Error {
  constructor(
    readonly retryable: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'CasError';
  }
}
