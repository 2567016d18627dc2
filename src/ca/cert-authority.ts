import type { IssuedCertificate } from './builtin-ca.js';

export type { IssuedCertificate };

export interface IssueRequest {
  /** The media-access certificate id (the proxy's id, stable across renewals). */
  readonly certificateId: string;
  readonly deviceId: string;
  /** 1 for the first issue, then one more per renewal; with the id it makes the idempotency key. */
  readonly version: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A CA that issues media-access certificates and their keys (seed 002): the builtin one, or one over HTTP. */
export interface CertificateAuthority {
  issue(req: IssueRequest): Promise<IssuedCertificate>;
}

/** The CA could not issue: `retryable` when it may work later (timeout, 5xx), not when it refused. */
export class CaError extends Error {
  constructor(
    readonly retryable: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'CaError';
  }
}
